"""manage.py: one implementation, two spellings (`--start` flags and `start` subcommands).

Machine-read output is pure JSON on stdout; errors are one line on stderr.
(No `from __future__ import annotations` here: typer 0.7 reads the annotations.)
"""

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

import typer

from . import __version__

VERBS = (
    "check-update",
    "update",
    "create",
    "start",
    "stop",
    "restart",
    "enable",
    "disable",
    "status",
    "list",
    "get-services",
    "logs",
    "delete",
    "cmd",
)


@dataclass
class Opts:
    instance: Optional[str] = None
    service: Optional[str] = None
    json: bool = False
    debug: bool = False
    app: Optional[str] = None
    instance_name: Optional[str] = None
    instance_id: Optional[str] = None
    port: List[str] = field(default_factory=list)
    dir: Optional[str] = None
    env: List[str] = field(default_factory=list)
    cpu_quota: Optional[int] = None
    memory_max: Optional[str] = None
    tasks_max: Optional[int] = None
    cpu_affinity: Optional[str] = None
    yes: bool = False
    purge: bool = False
    follow: bool = False
    lines: int = 50
    text: Optional[str] = None


# Shared option declarations: the flag and subcommand spellings take the same ones.
O_INSTANCE = typer.Option(None, "--instance", "-i", help="Instance id (a UUID or 'default').")
O_SERVICE = typer.Option(None, "--service", help="Unit name game@<id>; another way to name it.")
O_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
O_DEBUG = typer.Option(False, "--debug", help="Show tracebacks.")
O_APP = typer.Option(None, "--app", help="App slug or guid (create).")
O_NAME = typer.Option(None, "--instance-name", "--name", help="Human name, at most 64 characters.")
O_ID = typer.Option(None, "--instance-id", help="UUID for the new instance (default: generated).")
O_PORT = typer.Option([], "--port", help="key=N: pick a port (repeatable).")
O_DIR = typer.Option(None, "--dir", help="Absolute instance directory.")
O_ENV = typer.Option([], "--env", help="NAME=value added to the game's environment (repeatable).")
O_CPU = typer.Option(None, "--cpu-quota", help="CPU limit in percent of one CPU.")
O_MEM = typer.Option(None, "--memory-max", help="Memory limit, e.g. 2G.")
O_TASKS = typer.Option(None, "--tasks-max", help="Process/thread limit.")
O_AFFINITY = typer.Option(None, "--cpu-affinity", help="CPUs to run on, e.g. 0-1.")
O_YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
O_PURGE = typer.Option(False, "--purge", help="Also remove the data and the instance user.")
O_FOLLOW = typer.Option(False, "--follow", "-f", help="Follow the journal.")
O_LINES = typer.Option(50, "--lines", "-n", help="Journal lines to show.")

app = typer.Typer(
    add_completion=False,
    help=f"Warlock Manager: {__version__}\n\nRun game-server instances as systemd units "
    "(game@<id>.service). Every command takes --instance <uuid|default>.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _host() -> Any:
    from .host import Host

    return Host.from_env()


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _instance_id(o: Opts) -> Optional[str]:
    if o.service and not o.instance:
        name = o.service.removesuffix(".service")
        if not name.startswith("game@"):
            from .errors import InvalidInput

            raise InvalidInput(f"--service {o.service!r} is not a game@<id> unit")
        return name[len("game@") :]
    return o.instance


def _one(o: Opts) -> Any:
    host = _host()
    return host, host.registry.resolve(_instance_id(o))


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def do_create(o: Opts) -> int:
    from .actions import CreateRequest, create
    from .errors import InvalidInput
    from .model import Limits

    if not o.app:
        raise InvalidInput("--create needs --app", hint="e.g. --app example")
    limits = Limits(o.cpu_quota, o.memory_max, o.tasks_max, o.cpu_affinity)
    req = CreateRequest(
        o.app, o.instance_name, o.instance_id or o.instance, o.port, o.dir, limits, o.env
    )
    host = _host()
    inst = create(host, req)
    _log(f"created {inst.unit} in {inst.path}")
    _emit(inst.to_dict() | {"service": inst.unit})
    return 0


def do_start(o: Opts) -> int:
    from .actions import start

    host, inst = _one(o)
    start(host, inst)
    _log(f"{inst.unit} is running")
    return 0


def do_stop(o: Opts) -> int:
    from .actions import stop

    host, inst = _one(o)
    stop(host, inst)
    _log(f"{inst.unit} stopped")
    return 0


def do_restart(o: Opts) -> int:
    from .actions import restart

    host, inst = _one(o)
    restart(host, inst)
    _log(f"{inst.unit} restarted")
    return 0


def _enable(o: Opts, on: bool) -> int:
    from .actions import set_enabled

    host, inst = _one(o)
    set_enabled(host, inst, on)
    _log(f"{inst.unit} {'enabled: it starts at boot' if on else 'disabled'}")
    return 0


def do_enable(o: Opts) -> int:
    return _enable(o, True)


def do_disable(o: Opts) -> int:
    return _enable(o, False)


def do_get_services(o: Opts) -> int:
    from .apps import find_app
    from .report import host_ip, service

    host = _host()
    iid = _instance_id(o)
    insts = [host.registry.resolve(iid)] if iid else host.registry.all()
    ip = host_ip()
    _emit(
        {
            i.unit: service(i, find_app(host.paths, i.app), host.systemd.state(i.unit), ip)
            for i in insts
        }
    )
    return 0


def _table(rows: List[List[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _duration(seconds: int) -> str:
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d}d{h}h" if d else f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def do_list(o: Opts) -> int:
    from .actions import listing

    host = _host()
    rows, problems = listing(host)
    for p in problems:
        _log(f"warning: skipped {p}")
    if o.json:
        _emit([inst.to_dict() | {"service": inst.unit} | live for inst, live in rows])
        return 0
    table = [["ID", "NAME", "APP", "STATUS", "PORTS", "UPTIME"]]
    slugs = _slugs(host)
    for inst, live in rows:
        table.append(
            [
                inst.id,
                inst.name,
                slugs.get(inst.app, inst.app),
                str(live["status"]),
                ",".join(f"{k}={v}" for k, v in inst.ports.items()),
                _duration(int(live["uptime"])) if live["status"] == "running" else "-",
            ]
        )
    sys.stdout.write(_table(table) + "\n" if rows else "no instances\n")
    return 0


def _slugs(host: Any) -> Dict[str, str]:
    import tomllib

    from .apps import manifest_files

    out = {}
    for f in manifest_files(host.paths):
        try:
            out[tomllib.loads(f.read_text()).get("guid", "")] = f.stem
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return out


def do_status(o: Opts) -> int:
    from .apps import find_app
    from .report import host_ip, service

    host, inst = _one(o)
    app_ = find_app(host.paths, inst.app)
    svc = service(inst, app_, host.systemd.state(inst.unit), host_ip())
    if o.json:
        _emit(svc)
        return 0
    players = "?" if svc["player_count"] is None else svc["player_count"]
    lines = [
        f"{inst.unit} - {inst.name} ({app_.title})",
        f"  status:   {svc['status']} (uptime {_duration(svc['uptime'])}, "
        f"restarts {svc['restarts']}, last result {svc['result']})",
        f"  players:  {players}/{svc['max_players']}",
        "  ports:    "
        + ", ".join(f"{p['option']}={p['port']}/{p['protocol'].lower()}" for p in svc["ports"]),
        f"  pid:      {svc['service_pid'] or '-'}",
        f"  path:     {inst.path}",
        f"  enabled:  {'yes' if svc['enabled'] else 'no'}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def do_logs(o: Opts) -> int:
    from .run import exec_

    _, inst = _one(o)
    # -u: the game's own lines and systemd's about its unit (start, crash, restart).
    argv = ["journalctl", "--no-pager", "-u", inst.unit, "-n", str(o.lines)]
    exec_(argv + (["-f"] if o.follow else []))
    return 0


def do_delete(o: Opts) -> int:
    from .actions import delete
    from .errors import InvalidInput

    host, inst = _one(o)
    if not o.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(f"refusing to delete {inst.id} without --yes")
        what = "and ALL its data " if o.purge else ""
        if not typer.confirm(f"Delete instance {inst.id} ({inst.name}) {what}?"):
            return 1
    for item in delete(host, inst, o.purge):
        _log(f"removed {item}")
    return 0


def do_cmd(o: Opts) -> int:
    from .apps import find_app
    from .console import send

    host, inst = _one(o)
    reply = send(inst, find_app(host.paths, inst.app), o.text or "")
    if reply is not None:
        sys.stdout.write(reply if reply.endswith("\n") or not reply else reply + "\n")
    else:
        _log(f"sent to {inst.unit}: {o.text}")
    return 0


def do_check_update(o: Opts) -> int:
    """Exit 0 when an update exists (what Warlock's panels expect), 1 when not."""
    from .update import check_update

    host, inst = _one(o)
    newest = check_update(host, inst)
    _log(
        f"{inst.id}: build {inst.build or '-'}"
        + (f", update {newest} available" if newest else ", up to date")
    )
    return 0 if newest else 1


def do_update(o: Opts) -> int:
    from .update import update

    host, inst = _one(o)
    result = update(host, inst)
    _emit(result.to_dict())
    if result.rolled_back:
        _log(f"error: update of {inst.id} to build {result.new_build} failed ({result.reason}); "
             f"rolled back to build {result.old_build}, which runs again")  # fmt: skip
        return 1
    _log(f"{inst.id}: " + (f"now on build {result.new_build}" if result.updated else result.reason))
    return 0


ACTIONS: Dict[str, Callable[[Opts], int]] = {
    "check-update": do_check_update,
    "update": do_update,
    "create": do_create,
    "start": do_start,
    "stop": do_stop,
    "restart": do_restart,
    "enable": do_enable,
    "disable": do_disable,
    "status": do_status,
    "list": do_list,
    "get-services": do_get_services,
    "logs": do_logs,
    "delete": do_delete,
    "cmd": do_cmd,
}


def _merge(ctx: typer.Context, **given: Any) -> Opts:
    """Options given before the subcommand (`--instance X start`) count too."""
    base: Opts = ctx.obj if isinstance(ctx.obj, Opts) else Opts()
    for f in fields(Opts):
        value = given.get(f.name)
        if value not in (None, False, [], ()) and not (f.name == "lines" and value == 50):
            setattr(base, f.name, list(value) if isinstance(value, (list, tuple)) else value)
    return base


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    json_: bool = O_JSON,
    debug: bool = O_DEBUG,
    create: bool = typer.Option(
        False, "--create", help="Create an instance of --app (printed as JSON)."
    ),
    start: bool = typer.Option(
        False, "--start", help="Start the instance; returns once it is ready."
    ),
    stop: bool = typer.Option(False, "--stop", help="Stop the instance."),
    restart: bool = typer.Option(False, "--restart", help="Restart the instance."),
    enable: bool = typer.Option(False, "--enable", help="Start the instance at boot."),
    disable: bool = typer.Option(False, "--disable", help="Do not start it at boot."),
    status: bool = typer.Option(False, "--status", help="Show the instance's state."),
    list_: bool = typer.Option(False, "--list", help="List every instance."),
    get_services: bool = typer.Option(
        False, "--get-services", help="JSON: status, ports, pids, players."
    ),
    logs: bool = typer.Option(False, "--logs", help="Show the instance's journal."),
    delete: bool = typer.Option(
        False, "--delete", help="Delete the instance (--purge: and its data)."
    ),
    cmd: Optional[str] = typer.Option(None, "--cmd", help="Send a console command to the game."),
    check_update: bool = typer.Option(False, "--check-update", help="Exit 0 if an update exists."),
    update: bool = typer.Option(False, "--update", help="Update; roll back if it fails to start."),
    app_: Optional[str] = O_APP,
    instance_name: Optional[str] = O_NAME,
    instance_id: Optional[str] = O_ID,
    port: List[str] = O_PORT,
    dir: Optional[str] = O_DIR,
    env: List[str] = O_ENV,
    cpu_quota: Optional[int] = O_CPU,
    memory_max: Optional[str] = O_MEM,
    tasks_max: Optional[int] = O_TASKS,
    cpu_affinity: Optional[str] = O_AFFINITY,
    yes: bool = O_YES,
    purge: bool = O_PURGE,
    follow: bool = O_FOLLOW,
    lines: int = O_LINES,
) -> None:
    o = Opts(
        instance,
        service,
        json_,
        debug,
        app_,
        instance_name,
        instance_id,
        list(port),
        dir,
        list(env),
        cpu_quota,
        memory_max,
        tasks_max,
        cpu_affinity,
        yes,
        purge,
        follow,
        lines,
        cmd,
    )
    ctx.obj = o
    if ctx.invoked_subcommand:
        return
    chosen = [
        v
        for v, on in zip(
            VERBS,
            (
                check_update,
                update,
                create,
                start,
                stop,
                restart,
                enable,
                disable,
                status,
                list_,
                get_services,
                logs,
                delete,
                cmd is not None,
            ),
            strict=True,
        )
        if on
    ]
    if len(chosen) > 1:
        raise typer.BadParameter(
            "give one command at a time: " + ", ".join("--" + c for c in chosen)
        )
    if not chosen:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    raise typer.Exit(_run(chosen[0], o))


def _run(verb: str, o: Opts) -> int:
    return ACTIONS[verb](o)


# -- the subcommand spelling: thin wrappers over the same ACTIONS --------------------------


@app.command("create")
def create_cmd(
    ctx: typer.Context,
    app_: Optional[str] = O_APP,
    instance: Optional[str] = O_INSTANCE,
    instance_name: Optional[str] = O_NAME,
    instance_id: Optional[str] = O_ID,
    port: List[str] = O_PORT,
    dir: Optional[str] = O_DIR,
    env: List[str] = O_ENV,
    cpu_quota: Optional[int] = O_CPU,
    memory_max: Optional[str] = O_MEM,
    tasks_max: Optional[int] = O_TASKS,
    cpu_affinity: Optional[str] = O_AFFINITY,
    debug: bool = O_DEBUG,
) -> None:
    """Create an instance of an app (printed as JSON)."""
    raise typer.Exit(do_create(_merge(ctx, **_named(locals()))))


def _named(values: Dict[str, Any]) -> Dict[str, Any]:
    out = {k.rstrip("_"): v for k, v in values.items() if k != "ctx"}
    if "text" in values:
        out["text"] = values["text"]
    return out


def _simple(verb: str, doc: str) -> None:
    def command(
        ctx: typer.Context,
        instance: Optional[str] = O_INSTANCE,
        service: Optional[str] = O_SERVICE,
        json_: bool = O_JSON,
        debug: bool = O_DEBUG,
    ) -> None:
        raise typer.Exit(ACTIONS[verb](_merge(ctx, **_named(locals()))))

    command.__doc__ = doc
    app.command(verb)(command)


for _verb, _doc in (
    ("start", "Start the instance; returns once it is ready."),
    ("stop", "Stop the instance."),
    ("restart", "Restart the instance."),
    ("enable", "Start the instance at boot."),
    ("disable", "Do not start the instance at boot."),
    ("status", "Show the instance's state."),
    ("list", "List every instance: id, name, app, status, ports, uptime."),
    ("get-services", "JSON: status, ports, pids, players (all instances without --instance)."),
    ("check-update", "Exit 0 if a newer build of the instance's game exists."),
    ("update", "Install the newest build, move the instance to it, roll back if it fails."),
):
    _simple(_verb, _doc)


@app.command("logs")
def logs_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    follow: bool = O_FOLLOW,
    lines: int = O_LINES,
    debug: bool = O_DEBUG,
) -> None:
    """Show the instance's journal (-f follows it)."""
    raise typer.Exit(do_logs(_merge(ctx, **_named(locals()))))


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    yes: bool = O_YES,
    purge: bool = O_PURGE,
    debug: bool = O_DEBUG,
) -> None:
    """Delete the instance (--purge: also its data and user)."""
    raise typer.Exit(do_delete(_merge(ctx, **_named(locals()))))


@app.command("cmd")
def cmd_cmd(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="The console command."),
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    debug: bool = O_DEBUG,
) -> None:
    """Send a console command to the game."""
    raise typer.Exit(do_cmd(_merge(ctx, **_named(locals()))))


def main(argv: List[str] | None = None) -> int:
    """Entry point: one-line errors, exit 1 (2 for usage), tracebacks only with --debug."""
    import click

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = typer.main.get_command(app).main(
            args, prog_name="manage.py", standalone_mode=False
        )
        return int(result or 0)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.UsageError as e:
        sys.stderr.write(f"error: {e.format_message()}\n")
        return 2
    except click.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except Exception as e:
        from .errors import WarlockError

        if debug:
            raise
        if isinstance(e, WarlockError):
            sys.stderr.write(
                f"error: {e.message.splitlines()[0] if e.exit_code != 2 else e.message}"
                + (f" (hint: {e.hint})" if e.hint else "")
                + "\n"
            )
            return e.exit_code
        sys.stderr.write(
            f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)\n"
        )
        return 1
    except KeyboardInterrupt:
        return 130
