"""The host as a whole, for the dashboard's totals: CPU busy since the previous look (all
CPUs together, /proc/stat), load, memory total and available (/proc/meminfo), uptime.

Read with plain file reads, each a few microseconds; the daemon's web hook takes one per
sampling round and streams it (`host` events), so every open dashboard shares one read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any


def _cpu_times(proc: Path) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs. iowait counts as idle, as top counts it."""
    with open(proc / "stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest time is already inside user and nice
    return total - idle, total


def _meminfo(proc: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(proc / "meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class HostStats:
    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self._last: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self.latest: dict[str, Any] | None = None

    def read(self) -> dict[str, Any]:
        """The host now; CPU is the share busy since the previous read (None the first time)."""
        busy, total = _cpu_times(self.proc)
        with self._lock:
            last, self._last = self._last, (busy, total)
        cpu = None
        if last is not None and total > last[1]:
            cpu = round(100.0 * (busy - last[0]) / (total - last[1]), 1)
        mem = _meminfo(self.proc)
        load = (self.proc / "loadavg").read_text().split()[:3]
        uptime = float((self.proc / "uptime").read_text().split()[0])
        self.latest = {
            "cpus": os.cpu_count() or 1,
            "cpu_percent": cpu,
            "load": [float(x) for x in load],
            "memory_total": mem.get("MemTotal", 0),
            "memory_available": mem.get("MemAvailable", 0),
            "uptime": uptime,
        }
        return self.latest
