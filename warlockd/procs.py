"""What the kernel says about an instance's processes: pids, start time, memory, CPU."""

from __future__ import annotations

import functools
import os
import time

_CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@functools.cache
def _cgroup_root() -> str:
    """Where systemd's hierarchy is mounted: /sys/fs/cgroup (v2), or unified/systemd (hybrid)."""
    for root in _CGROUP_ROOTS:
        if os.path.exists(f"{root}/system.slice"):
            return root
    return _CGROUP_ROOTS[0]


def _read(path: str) -> bytes:
    """A small kernel file, read with plain system calls: `list` reads two for each
    running instance, and open() builds a buffered text reader for each."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 65536)]
        while len(chunks[-1]) == 65536:  # a kernel file gives all it has up to the size asked
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def unit_pids(unit: str, slice_: str = "system.slice/system-game.slice") -> list[int]:
    """The unit's processes from its cgroup, without a D-Bus call."""
    try:
        return [int(p) for p in _read(f"{_cgroup_root()}/{slice_}/{unit}/cgroup.procs").split()]
    except OSError:
        return []


@functools.cache
def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def started_at(pid: int) -> float:
    """When a process started, seconds since the epoch; 0 if it is gone."""
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:
        return 0.0
    fields = stat.rsplit(b")", 1)[1].split()
    return _boot_time() + int(fields[19]) / _CLK_TCK


def oldest_start(pids: list[int]) -> float:
    """When the unit's first process (the runner: the lowest pid) started."""
    return started_at(min(pids)) if pids else 0.0


def unit_started(unit: str) -> float:
    """When the unit's current run began (its first process started); 0 if not running."""
    return oldest_start(unit_pids(unit))


def uptime(since: float) -> int:
    return max(0, int(time.time() - since)) if since else 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            text = f.read()
    except OSError:
        return []
    return [int(p) for p in text.split()]
