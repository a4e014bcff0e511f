"""Console commands: over the game's rcon when it has one (the reply comes back), else a
line written to the FIFO the runner forwards to the game's stdin."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from . import layout
from .apps import App
from .errors import InvalidInput, WarlockError
from .model import Instance


def fifo_path(inst: Instance) -> Path:
    return layout.data_dir(inst) / "console"


def send(inst: Instance, app: App, text: str) -> str | None:
    """Send one command; return the game's reply when the channel gives one."""
    if not text.strip() or not text.isprintable():
        raise InvalidInput("a console command is one line of printable text")
    if app.rcon:
        return _rcon(inst, app, text.strip())
    _fifo(inst, text)
    return None


def _rcon(inst: Instance, app: App, text: str) -> str:
    from .protocols import RconError
    from .units import render_values

    assert app.rcon is not None
    password = render_values({"rcon.password": app.rcon.password}, {"secrets": inst.secrets})
    port = inst.ports[app.rcon.port]
    try:
        if app.rcon.protocol == "quake3":
            from .protocols.quake3 import rcon

            return rcon("127.0.0.1", port, password["rcon.password"], text)
        from .protocols.source_rcon import SourceRcon

        with SourceRcon("127.0.0.1", port, password["rcon.password"]) as client:
            return client.command(text)
    except (RconError, ValueError) as e:
        raise WarlockError(f"rcon to {inst.id} failed: {e}", hint="is it running?") from None


def _fifo(inst: Instance, text: str) -> None:
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
