"""Per-instance resource use: systemd's cgroup accounting where the kernel gives it, else
the unit's processes read from /proc (cgroup v1 hosts, and the test container)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from . import procs

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Usage(NamedTuple):
    cpu_percent: float | None
    memory_bytes: int | None
    tasks: int | None
    source: str  # "cgroup" or "proc"
    pids: tuple[int, ...] = ()


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_usec(cgroup: Path) -> int | None:
    try:
        for line in (cgroup / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Sampler:
    """Keeps what CPU percentages need between two samples: the last counters per unit."""

    def __init__(self, cgroup_root: Path | None = None) -> None:
        self.root = cgroup_root or Path(procs._cgroup_root())
        self._last_cpu: dict[str, tuple[float, int]] = {}  # unit -> (monotonic, usage usec)
        self._procs: dict[int, tuple[float, int]] = {}  # pid -> (monotonic, cpu ticks) last look
        self._accounting: bool | None = None

    def cgroup_dir(self, unit: str) -> Path:
        return self.root / "system.slice" / "system-game.slice" / unit

    def usage(self, unit: str) -> Usage:
        pids = self.pids(unit)
        if self.accounting:  # cgroup v2 with the memory controller: the kernel's own count
            cgroup = self.cgroup_dir(unit)
            memory = _read_int(cgroup / "memory.current")
            if memory is not None:
                cpu = self._cpu(unit, _cpu_usec(cgroup))
                tasks = _read_int(cgroup / "pids.current")
                return Usage(cpu, memory, tasks, "cgroup", tuple(pids))
        usage = self._proc(pids)
        return Usage(usage.cpu_percent, usage.memory_bytes, usage.tasks, "proc", tuple(pids))

    def pids(self, unit: str) -> list[int]:
        """The unit's processes, from cgroup.procs under this sampler's root."""
        try:  # plain open(): this runs for every instance every 10 s
            with open(f"{self.root}/system.slice/system-game.slice/{unit}/cgroup.procs") as f:
                return [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return []

    @property
    def accounting(self) -> bool:
        """Whether the kernel counts memory per cgroup here (cgroup v2 with its controller);
        looked up once: it does not change while the host runs."""
        if self._accounting is None:
            self._accounting = os.path.exists(f"{self.root}/system.slice/memory.current")
        return self._accounting

    def _cpu(self, unit: str, usec: int | None) -> float | None:
        if usec is None:
            return None
        now = time.monotonic()
        last = self._last_cpu.get(unit)
        self._last_cpu[unit] = (now, usec)
        if last is None or now <= last[0]:
            return None  # the first sample has nothing to compare with
        return round((usec - last[1]) / 1e6 / (now - last[0]) * 100, 1)

    def _proc(self, pids: list[int]) -> Usage:
        """CPU, memory and threads of the unit's processes from one read of each
        /proc/<pid>/stat. psutil reads the same file but costs about four times as much
        per process (167 against 43 µs, measured here): with 400 processes every 10 s,
        that alone would break the daemon's 1 %-of-a-core budget."""
        if not pids:
            return Usage(None, None, None, "proc")
        now = time.monotonic()
        rss = threads = 0
        cpu, fresh = 0.0, False
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone between cgroup.procs and now
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            threads += int(fields[17])
            rss += int(fields[21]) * _PAGE
            last = self._procs.get(pid)
            self._procs[pid] = (now, ticks)
            if last is None or now <= last[0]:
                fresh = True  # a new process: its share shows from the next look
            else:
                cpu += (ticks - last[1]) / _TICKS / (now - last[0]) * 100
        return Usage(None if fresh else round(cpu, 1), rss, threads, "proc")

    def forget(self, live_pids: set[int]) -> None:
        """Drop what belongs to processes that are gone (called once per sampling round)."""
        for pid in set(self._procs) - live_pids:
            del self._procs[pid]


def disk_usage(path: str) -> int:
    """Bytes allocated under a directory, not following links (what `du -s` says)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def players(status_text: str) -> tuple[int, int] | None:
    """The runner's `STATUS=players 3/16`, as (3, 16)."""
    if not status_text.startswith("players "):
        return None
    try:
        count, _, most = status_text.split()[1].rstrip(":").partition("/")
        return int(count), int(most)
    except (IndexError, ValueError):
        return None


def player_names(status_text: str) -> list[str] | None:
    """The names in the runner's `STATUS=players 2/16: Alice, Bob`; None when it gives none."""
    if not status_text.startswith("players ") or ": " not in status_text:
        return None
    return [n for n in status_text.split(": ", 1)[1].split(", ") if n]


def human_bytes(n: int | None) -> str:
    """Warlock's `memory_usage` format: "512 MB", "9.79 GB", or "N/A"."""
    if n is None:
        return "N/A"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GB"
    return f"{n / (1 << 20):.0f} MB"
