"""start, stop, restart, enable, disable: an instance's unit, through systemd's jobs.

start returns once the game answers its query (the runner says READY=1 only then); a
start that fails says why in one line, with the last lines of its journal.
"""

from __future__ import annotations

import contextlib

from ..answers import forget
from ..apps import App, find_app
from ..errors import Conflict, SystemdError, WarlockError
from ..host import Host
from ..model import Instance
from ..ports import holder_of
from ..run import run
from ..systemd import UnitState
from . import Args, Outcome, one

START_TIMEOUT = 120.0


def check_ports(host: Host, inst: Instance, app: App, loaded: UnitState | None) -> None:
    """Refuse to start when another process took one of the instance's ports meanwhile."""
    if loaded and loaded.active in ("active", "activating", "deactivating", "reloading"):
        return  # its own server holds them
    taken = host.probe_ports()
    for spec in app.ports:
        who = holder_of(spec, inst.ports[spec.key], taken)
        if who:
            raise Conflict(
                f"cannot start {inst.id}: port {inst.ports[spec.key]}/{spec.protocol} ({spec.key}) "
                f"is taken by {who}",
                hint="stop that process, or recreate the instance with --port",
            )


def journal_tail(inst: Instance, lines: int = 5) -> str:
    try:
        out = run(
            ["journalctl", "--no-pager", "-q", "-o", "cat", "-n", str(lines), "-u", inst.unit],
            timeout=10,
        )
    except WarlockError:
        return ""
    return " | ".join(line.strip() for line in out.strip().splitlines()[-lines:])


def start(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    app = find_app(host.paths, inst.app)
    loaded = host.systemd.states(inst.unit).get(inst.unit)  # one call; not loaded: stopped
    try:
        check_ports(host, inst, app, loaded)
    except Conflict as e:
        host.record_event("port_conflict", inst.id, e.message)
        raise
    if loaded and loaded.active == "failed":  # a crashed instance can be started again by hand
        host.systemd.reset_failed(inst.unit)
    try:
        host.systemd.start(inst.unit, timeout)
    except SystemdError as e:
        why = e.message
        with contextlib.suppress(WarlockError):
            result = host.systemd.state(inst.unit).result
            if result == "timeout":
                probe = "its query never answered" if app.query != "none" else "ports not bound"
                why = f"{inst.unit} did not become ready within {app.start_timeout} s ({probe})"
        tail = journal_tail(inst)
        raise SystemdError(
            why + (f"; last log lines: {tail}" if tail else ""),
            hint=f"manage.py logs --instance {inst.id}",
        ) from None
    finally:
        # the daemon's ready answer (answers.py) predates this: live until it writes anew
        forget(str(host.paths.runtime), inst.id)


def stop(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    try:
        host.systemd.stop(inst.unit, timeout)
    finally:
        forget(str(host.paths.runtime), inst.id)


def restart(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    host.systemd.reset_failed(inst.unit)
    try:
        host.systemd.restart(inst.unit, timeout)
    finally:
        forget(str(host.paths.runtime), inst.id)


def set_enabled(host: Host, inst: Instance, enabled: bool) -> Instance:
    with host.registry.lock():
        inst = host.registry.get(inst.id)
        (host.systemd.enable if enabled else host.systemd.disable)([inst.unit])
        host.systemd.reload()
        inst = inst.with_(enabled=enabled)
        host.registry.save(inst)
    return inst


def do_start(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    start(host, inst)
    return Outcome(notes=(f"{inst.unit} is running",))


def do_stop(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    stop(host, inst)
    return Outcome(notes=(f"{inst.unit} stopped",))


def do_restart(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    restart(host, inst)
    return Outcome(notes=(f"{inst.unit} restarted",))


def do_enable(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    set_enabled(host, inst, True)
    return Outcome(notes=(f"{inst.unit} enabled: it starts at boot",))


def do_disable(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    set_enabled(host, inst, False)
    return Outcome(notes=(f"{inst.unit} disabled",))
