"""The file console: for games with no remote console, something inside the game (a mod:
bundled/minetest/warlock_console) reads a request file in the game's directory and answers
in a response file there. A manifest chooses it with `[console] transport = "file"` and
names both files, relative to the game's directory.

    request:   <id> <unix time>\\n<command>\\n
    response:  <id> <ok|failed|unknown|error>\\n<reply>\\n

Both are written whole and renamed into place (warlockd's with settings/files.py, which
never follows a link the game's user planted), so neither side reads half a file. One
request at a time per instance: the instance's root-owned directory is flock'ed for the
exchange. The game side drops a request older than 30 s unanswered (left while it was
down), and a response whose id is not ours is an old one, never taken for our answer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from .errors import InvalidInput, WarlockError
from .settings import files

TIMEOUT = 5.0  # the mod looks every 0.5 s; a loaded server a little later
POLL = 0.05
STATUSES = ("ok", "failed", "unknown", "error")


class Reply(NamedTuple):
    status: str  # one of STATUSES
    text: str


def request_text(request_id: str, sent: int, command: str) -> str:
    if not command.strip() or "\n" in command or "\r" in command:
        raise InvalidInput("a console command is one line of printable text")
    return f"{request_id} {sent}\n{command}\n"


def parse_response(text: str, request_id: str) -> Reply | None:
    """The reply to request_id, or None when `text` answers another request (an old one,
    whose caller gave up)."""
    head, _, body = text.partition("\n")
    answered, _, status = head.partition(" ")
    if answered != request_id:
        return None
    status = status.strip()
    if status not in STATUSES:
        raise WarlockError(f"the game's console answered {head!r}, not a status")
    return Reply(status, body.rstrip("\n"))


@contextlib.contextmanager
def _locked(directory: Path, until: float, clock: Callable[[], float]) -> Iterator[None]:
    """An flock on `directory` (the instance's root-owned top), waited for until `until`."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK) or clock() >= until:
                    raise WarlockError(
                        "another console command to this instance is still waiting",
                        hint="try again in a few seconds",
                    ) from None
                time.sleep(POLL)
        yield
    finally:
        os.close(fd)  # drops the lock


def exchange(
    lock_dir: Path,
    data_dir: Path,
    request: str,
    response: str,
    command: str,
    timeout: float = TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """Write the request, wait for its reply. WarlockError when none comes within
    `timeout`; the request is then taken back, so a server started later does not run it."""
    until = clock() + timeout
    request_id = secrets.token_hex(8)
    with _locked(lock_dir, until, clock):
        files.write(data_dir, request, request_text(request_id, int(time.time()), command))
        while clock() < until:
            sleep(POLL)
            found = files.read(data_dir, response).text
            reply = parse_response(found, request_id) if found is not None else None
            if reply is not None:
                files.remove(data_dir, response)
                return reply
        pending = files.read(data_dir, request).text
        if pending is not None and pending.startswith(request_id + " "):
            files.remove(data_dir, request)
            raise WarlockError(
                f"the game did not read its console within {timeout:g} s",
                hint="is its world loaded? it reads commands once the server runs",
            )
    raise WarlockError(
        f"the game took the command but did not answer within {timeout:g} s",
        hint="it may still run it; see the instance's log",
    )
