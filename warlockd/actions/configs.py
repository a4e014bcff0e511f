"""get-configs and set-config: an instance's game settings, read from and written into the
game's own files (settings/), or kept in its record when they go on its command line.

set-config checks the option, its type, range and allowed values (and, for a port, that
it is free on the host and in the registry) before anything is written. `Server Name` and
`Max Players` also change the record; a setting the command line or the unit carries
rewrites the drop-in. A running game reads its settings at start: the answer says a
restart applies the change, and get-services shows `restart_needed` until one has.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import layout, units
from ..apps import App, PortSpec, find_app
from ..builds import install_path
from ..errors import InvalidInput
from ..host import Host
from ..model import Instance, new_name
from ..ports import Merged, allocate
from ..settings import values
from ..settings.api import get_configs, set_config
from ..settings.spec import Setting, find, settings_of
from . import Args, Outcome, one
from .create import taken_by_instances

NAME, MAX_PLAYERS = "Server Name", "Max Players"  # also in the record (contract, seed 002)


def _cli_values(inst: Instance, app: App) -> dict[str, str]:
    """What settings/ reads for options outside files: the record's, and the ports."""
    ports = {s.key: str(inst.ports[s.key]) for s in settings_of(app) if s.format == "port"}
    return dict(inst.config) | ports


def do_get_configs(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    app = find_app(host.paths, inst.app)
    rows = get_configs(app, layout.data_dir(inst), _cli_values(inst, app))
    return Outcome([r | {"instance_id": inst.id, "name": inst.name} for r in rows])


def do_set_config(host: Host, args: Args) -> Outcome:
    if len(args.setting) != 2:
        raise InvalidInput("set-config takes an option and a value", hint='"Max Players" 16')
    option, text = args.setting
    with host.registry.lock():  # one change of the record (and its drop-in) at a time
        inst = one(host, args)
        app = find_app(host.paths, inst.app)
        s = find(settings_of(app), option)
        record = _record_change(host, inst, app, s, text)  # checked before any write
        change = set_config(
            app, layout.data_dir(inst), _cli_values(inst, app), option, text,
            lock_dir=_locks(host),
        )  # fmt: skip
        if change.cli_values is not None and s.format == "cli":
            record = record.with_(config=change.cli_values)
        if change.changed:
            record = record.with_(settings_changed=time.time())
        if record != inst:
            host.registry.save(record)
            _rewrite_dropin(host, record, app)
    running = _running(host, inst)
    data: dict[str, Any] = change.to_dict() | {
        "instance_id": inst.id,
        "name": record.name,
        "restart_needed": change.changed and running,
    }
    data.pop("cli_values", None)  # the record's internals
    note = "unchanged" if not change.changed else "restart it to apply" if running else "set"
    return Outcome(data, (f"{inst.id}: {option} = {text!r}: {note}",))


def _record_change(host: Host, inst: Instance, app: App, s: Setting, text: str) -> Instance:
    """The record as this setting changes it, every check done; nothing written yet."""
    if s.option == NAME:
        inst = inst.with_(name=new_name(text.strip()))
    if s.option == MAX_PLAYERS:
        value = values.parse(s, text)
        inst = inst.with_(max_players=int(value) if isinstance(value, int | float) else None)
    if s.format == "port":
        port = values.parse(s, text)
        if not isinstance(port, int):
            raise InvalidInput(f"{s.option}: expected a port number")
        if port != inst.ports[s.key]:
            others = [i for i in host.registry.all() if i.id != inst.id]
            taken = Merged(taken_by_instances(others), host.probe_ports())
            spec = app.port(s.key)
            for other in app.ports:  # one number may serve two ports on different protocols
                if (
                    other.key != s.key
                    and inst.ports.get(other.key) == port
                    and (_protocols(other) & _protocols(spec))
                ):
                    raise InvalidInput(f"{s.option}: {port} is another port of this instance")
            allocate([spec], taken, {s.key: port})  # refuses a port held, naming who holds it
            inst = inst.with_(ports=inst.ports | {s.key: port})
    return inst


def _protocols(spec: PortSpec) -> set[str]:
    return {"tcp", "udp"} if spec.protocol == "both" else {spec.protocol.value}


def _locks(host: Host) -> Path:
    """Root's directory for the settings locks (the game's user must not plant them)."""
    d = host.paths.state / "locks"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def _rewrite_dropin(host: Host, inst: Instance, app: App) -> None:
    path = install_path(host.paths, app, inst.build)
    dropin = units.render_dropin(inst, app, host.paths, path)
    if units.read_dropin(host.paths, inst) != dropin:
        units.write_dropin(host.paths, inst, dropin)
        if host.systemd.states(inst.unit):  # loaded: systemd must read it again
            host.systemd.reload()


def _running(host: Host, inst: Instance) -> bool:
    st = host.systemd.states(inst.unit).get(inst.unit)
    return bool(st and st.active in ("active", "activating", "reloading"))
