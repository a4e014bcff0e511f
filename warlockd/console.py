"""Console commands: a line written to the FIFO the game (or its runner) reads."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import InvalidInput, WarlockError
from .model import Instance


def fifo_path(inst: Instance) -> Path:
    return Path(inst.path) / "console"


def send(inst: Instance, text: str) -> None:
    if not text.strip() or not text.isprintable():
        raise InvalidInput("a console command is one line of printable text")
    path = fifo_path(inst)
    try:
        # O_NONBLOCK: fail at once when nothing reads it instead of hanging the caller.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WarlockError(f"{inst.id} has no console at {path}", hint="is it running?") from None
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise WarlockError(
                f"{inst.id} is not reading its console", hint="is it running?"
            ) from None
        raise WarlockError(f"cannot open the console of {inst.id}: {e.strerror}") from None
    try:
        os.write(fd, (text.strip() + "\n").encode())
    finally:
        os.close(fd)
