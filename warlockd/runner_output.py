"""The game's output through the runner, for a game whose manifest has a [link] pattern:
every byte copied on to the runner's stdout (the unit's journal, as if the game wrote it),
each line searched for the join link the game announces (links.py says why).

Whole lines only: a line the game writes in pieces is held until its newline (journald
waits for it too), so a line of the runner's own (on stderr, the same journal stream)
never lands in the middle of one. A line longer than MAX_PENDING goes on as it comes,
unsearched; what is held when the game exits goes out then.

Imported by the runner: stdlib only, `re` loaded only when a game has a pattern.
"""

from __future__ import annotations

import os
import selectors
from collections.abc import Callable

MAX_PENDING = 65536  # a line longer than this announces no link: its start is dropped


class GameOutput:
    def __init__(
        self, pattern: str, on_link: Callable[[str | None], None], selector: selectors.BaseSelector
    ) -> None:
        import re

        self.regex = re.compile(pattern)
        self.on_link = on_link  # called with None when the game starts
        self.selector = selector
        self.pending = b""  # what follows the last full line: held, not yet copied
        self.long = False  # copying a line too long to hold: its rest is not searched
        self.link: str | None = None
        self.fd: int | None
        self.fd, self.write_end = os.pipe()
        # the game's stdout and stderr: posix_spawn file actions
        self.actions = [(os.POSIX_SPAWN_DUP2, self.write_end, fd) for fd in (1, 2)]

    def started(self) -> None:
        """The game has its end of the pipe: ours reads, from the runner's loop."""
        os.close(self.write_end)
        assert self.fd is not None
        os.set_blocking(self.fd, False)
        self.selector.register(self.fd, selectors.EVENT_READ, self.pump)
        self.on_link(None)

    def pump(self) -> bool:
        """Copy what is there now; False when nothing more is (or the game closed it)."""
        if self.fd is None:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        if not data:  # the game (and every child holding it) closed its output
            self.selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
            self.flush()
            return False
        held = self.pending + data
        end = held.rfind(b"\n") + 1
        out, self.pending = held[:end], held[end:]
        if out:
            _write(out)
            lines = out.split(b"\n")[:-1]
            if self.long:  # the end of the line too long to hold
                lines, self.long = lines[1:], False
            for line in lines:
                self.search(line.decode("utf-8", "replace"))
        if len(self.pending) > MAX_PENDING:
            self.flush()
            self.long = True
        return True

    def flush(self) -> None:
        """What is held goes out now (the game exited, or the line is too long to hold)."""
        if self.pending:
            _write(self.pending)
            self.pending = b""

    def search(self, line: str) -> None:
        """The first link of a run is the server's: a later line that looks like one may
        quote a player (a chat message), so the search ends there."""
        if self.link is not None:
            return
        from .links import find

        found = find(self.regex, line)
        if found:
            self.link = found
            self.on_link(found)

    def drain(self, *, exited: bool = False) -> None:
        """Everything the game wrote while it stops; once it `exited`, its last line too
        (a child of the game may still hold the pipe open)."""
        while self.pump():
            pass
        if exited:
            self.flush()


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]
