"""Console commands: over the game's rcon when it has one (the reply comes back), else by
the manifest's console transport: a line written to the FIFO the runner forwards to the
game's stdin, or a request file that a mod inside the game answers (console_file.py)."""

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
    if app.console.transport == "file":
        return _file(inst, app, text.strip())
    _fifo(inst, text)
    return None


def _rcon(inst: Instance, app: App, text: str) -> str | None:
    from .protocols import RconError
    from .units import render_values

    assert app.rcon is not None
    password = render_values({"rcon.password": app.rcon.password}, {"secrets": inst.secrets})
    port = inst.ports.get(app.rcon.port)
    if port is None:  # made before its manifest declared the port
        raise WarlockError(
            f"{inst.id} has no {app.rcon.port} port for its console",
            hint="clone it: a clone gets every port its game has now",
        )
    try:
        if app.rcon.protocol == "quake3":
            from .protocols.quake3 import rcon

            return rcon("127.0.0.1", port, password["rcon.password"], text)
        if app.rcon.protocol == "teeworlds-econ":
            from .protocols.teeworlds_econ import rcon as econ

            # its output is the server's log lines; a command with none says nothing
            return econ("127.0.0.1", port, password["rcon.password"], text) or None
        from .protocols.source_rcon import SourceRcon

        with SourceRcon("127.0.0.1", port, password["rcon.password"]) as client:
            return client.command(text)
    except (RconError, ValueError) as e:
        raise WarlockError(f"rcon to {inst.id} failed: {e}", hint="is it running?") from None


def _file(inst: Instance, app: App, text: str) -> str | None:
    from .console_file import exchange

    assert app.console.request is not None and app.console.response is not None
    # the runner reads its FIFO for as long as the game runs: a stopped instance is told
    # at once, not after the wait for an answer that cannot come
    os.close(_open_fifo(inst))
    reply = exchange(
        layout.top(inst), layout.data_dir(inst), app.console.request, app.console.response, text
    )
    said = reply.text.replace("\n", " | ")  # an error is one line
    if reply.status == "unknown":
        raise InvalidInput(f"{inst.id}: {said}", hint="get-commands lists some it takes")
    if reply.status != "ok":  # failed: the command said so; error: it broke in the game
        what = "failed" if reply.status == "failed" else "raised an error in the game"
        raise WarlockError(f"{text.split()[0]} on {inst.id} {what}: {said}")
    return reply.text or None


def _fifo(inst: Instance, text: str) -> None:
    fd = _open_fifo(inst)
    try:
        os.write(fd, (text.strip() + "\n").encode())
    finally:
        os.close(fd)


def _open_fifo(inst: Instance) -> int:
    path = fifo_path(inst)
    try:
        # O_NONBLOCK: fail at once when nothing reads it instead of hanging the caller.
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WarlockError(f"{inst.id} has no console at {path}", hint="is it running?") from None
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise WarlockError(
                f"{inst.id} is not reading its console", hint="is it running?"
            ) from None
        raise WarlockError(f"cannot open the console of {inst.id}: {e.strerror}") from None
