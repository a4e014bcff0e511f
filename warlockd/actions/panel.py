"""The Warlock panels' own commands (warlock-contract.md): is-running, has-players and the
game's console commands for the UI, create-service and remove-service (an instance of a
game, as the panels call one), first-run and remove.

Yes/no commands answer with the exit code (0 = yes), as the panels' cron lines expect:
`! manage.py has-players && manage.py update` must never update under players, so when
warlockd cannot tell whether anyone plays, has-players says yes.
"""

from __future__ import annotations

from .. import layout
from ..apps import find_app
from ..builds import ensure_installed, install_path, is_pack_build
from ..errors import Conflict, InvalidInput, NeedsConfirmation
from ..host import Host
from ..model import Status, new_name, status_of
from ..query import query
from ..sources import Build
from . import Args, Outcome, one, some
from .create import CreateRequest, create
from .delete import delete


def _status(host: Host, args: Args) -> tuple[Status, str]:
    inst = one(host, args)
    st = host.systemd.states(inst.unit).get(inst.unit)
    return (status_of(st.active, st.sub) if st else Status.STOPPED), inst.service


def do_is_running(host: Host, args: Args) -> Outcome:
    status, service = _status(host, args)
    running = status == Status.RUNNING
    return Outcome({"running": running}, (f"{service} is {status}",), 0 if running else 1)


def do_has_players(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    st = host.systemd.states(inst.unit).get(inst.unit)
    if not st or status_of(st.active, st.sub) != Status.RUNNING:
        return Outcome({"players": 0}, (f"{inst.service} is not running: nobody plays",), 1)
    app = find_app(host.paths, inst.app)
    found = query(app.query, inst.ports[app.query_port]) if app.query_port else None
    if found is None or found.player_count is None:
        why = "it does not answer its query" if app.query != "none" else "it has no query"
        note = f"{inst.service}: cannot tell who plays ({why}): taken as players online"
        return Outcome({"players": None}, (note,), 0)
    count = found.player_count
    note = f"{inst.service}: {count} player(s) online"
    return Outcome({"players": count}, (note,), 0 if count else 1)


def do_get_commands(host: Host, args: Args) -> Outcome:
    """The console commands the game takes (its manifest's [console]), for the panel's
    command box; `cmd` sends one."""
    inst = one(host, args)
    return Outcome(list(find_app(host.paths, inst.app).console.commands))


def do_create_service(host: Host, args: Args) -> Outcome:
    """A new instance of this game named as given (`--service NAME`, as the panel asks for
    one); the panel reads `CreatedService:<unit>` from the last line."""
    if args.scope_app or args.app:
        app_id = args.scope_app or args.app or ""
    elif args.instance:  # an instance's manage.py: another instance of its game
        app_id = host.registry.get(args.instance).app
    else:
        raise InvalidInput("create-service needs --app (or a game's manage.py)", hint="--app x")
    if not args.instance_name:
        raise InvalidInput("create-service needs --service NAME", hint="--service friday")
    app = find_app(host.paths, app_id)
    name = new_name(args.instance_name)
    if any(i.name == name for i in host.registry.all() if i.app == app.guid):
        raise Conflict(f"{app.slug} has a service named {name!r} already")
    made = create(host, CreateRequest(app.guid, name, args.instance_id, args.port, args.dir))
    return Outcome(
        f"CreatedService:{made.service}", (f"created {made.unit} ({name}) in {made.path}",)
    )


def do_remove_service(host: Host, args: Args) -> Outcome:
    """Delete one instance with its data; never a game's last one (the panel refuses that
    too: remove the game with `remove --confirm`)."""
    if args.instance is None:
        raise InvalidInput("remove-service needs --service game@<id>")
    inst = one(host, args)
    mine = [i for i in host.registry.all() if i.app == inst.app]
    if len(mine) < 2:
        raise InvalidInput(
            f"{inst.service} is the last service of its game",
            hint="`remove --confirm` removes the game's last instance",
        )
    return Outcome(notes=tuple(f"removed {item}" for item in delete(host, inst, purge=True)))


def do_first_run(host: Host, args: Args) -> Outcome:
    """What a panel runs after installing: the game's files, each instance's directories
    and manage.py. Safe to run again."""
    notes = []
    for inst in some(host, args):
        app = find_app(host.paths, inst.app)
        build = (
            Build(install_path(host.paths, app, inst.build), inst.build)
            if is_pack_build(inst.build)  # its server pack's: nothing to install
            else ensure_installed(host.paths, app)
        )
        if inst.layout >= layout.LAYOUT and layout.write_shim(
            layout.top(inst), layout.shim_text(instance=inst.id)
        ):
            notes.append(f"wrote {layout.top(inst) / layout.SHIM}")
        notes.append(f"{inst.service}: {app.title} build {build.build_id} is installed")
    return Outcome(notes=tuple(notes))


def do_remove(host: Host, args: Args) -> Outcome:
    """The panel's uninstall: this instance (or, at a game's manage.py, every instance of
    the game) with its data and user; only with --confirm."""
    if args.instance is None and args.scope_app is None:
        raise InvalidInput("remove needs --instance (or an instance's manage.py)")
    doomed = some(host, args)
    if not args.confirm:
        names = ", ".join(i.service for i in doomed)
        raise NeedsConfirmation(
            f"refusing to remove {names or 'nothing'} without --confirm",
            f"Remove {names} and ALL their data? [y/N] ",
        )
    notes = [f"removed {item}" for inst in doomed for item in delete(host, inst, purge=True)]
    return Outcome(notes=tuple(notes))
