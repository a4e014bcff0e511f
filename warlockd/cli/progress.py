"""Progress of a long command (backup, restore, update) on a terminal: bytes, rate and time
left on one line of stderr, redrawn at most five times a second. stdout stays pure JSON."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class Terminal:
    """host.progress for a person at a terminal."""

    def __init__(
        self, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.started: dict[str, float] = {}
        self.drawn = 0.0

    def __call__(self, what: str, done: int, total: int | None) -> None:
        now = self.clock()
        start = self.started.setdefault(what, now)
        finished = total is not None and done >= total
        if not finished and now - self.drawn < 0.2:
            return
        self.drawn = now
        rate = done / (now - start) if now > start else 0.0
        line = f"{what}: {_size(done)}"
        if total:
            line += f" of {_size(total)} ({100 * done / total:.0f}%)"
        if rate:
            line += f", {_size(rate)}/s"
            if total and not finished:
                line += f", {max(0.0, (total - done) / rate):.0f} s left"
        self.stream.write(f"\r\x1b[K{line}" + ("\n" if finished else ""))
        self.stream.flush()
        if finished:
            del self.started[what]
