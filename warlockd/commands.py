"""What each manage.py command does, apart from how it is spelled (cli.py parses).

Imports nothing heavy: the hot read path (get-services) runs from here without typer.
"""

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

VERBS = (
    "check-update",
    "update",
    "create",
    "clone",
    "start",
    "stop",
    "restart",
    "enable",
    "disable",
    "status",
    "list",
    "get-services",
    "get-ports",
    "logs",
    "delete",
    "cmd",
    "get-metrics",
    "metrics",
    "events",
    "dashboard",
    "setup",
    "backup",
    "restore",
    "pack",
    "import",
)


class Opts(NamedTuple):
    instance: str | None = None
    service: str | None = None
    json: bool = False
    debug: bool = False
    app: str | None = None
    instance_name: str | None = None
    instance_id: str | None = None
    port: Sequence[str] = ()
    dir: str | None = None
    env: Sequence[str] = ()
    cpu_quota: int | None = None
    memory_max: str | None = None
    tasks_max: int | None = None
    cpu_affinity: str | None = None
    yes: bool = False
    purge: bool = False
    follow: bool = False
    lines: int = 50
    text: str | None = None
    since: str | None = None  # metrics: 1h, events: 1d
    watch: bool = False
    max_backups: int | None = None
    archive: str | None = None  # restore: a backup's name, or a path
    force: bool = False


def _host() -> Any:
    from .host import Host

    return Host.from_env()


def _emit(data: Any) -> None:
    if isinstance(data, list):
        # One item a line: still one instance (event, sample) per line for grep, and
        # json's C encoder, where indent= takes the pure-Python one, the largest cost of
        # listing 200 instances.
        body = ",\n".join("  " + json.dumps(item) for item in data)
        sys.stdout.write(f"[\n{body}\n]\n" if data else "[]\n")
        return
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _instance_id(o: Opts) -> str | None:
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
    _emit(inst.public())
    return 0


def do_clone(o: Opts) -> int:
    from .backup import clone

    host, source = _one(o)
    made = clone(
        host, source, name=o.instance_name, instance_id=o.instance_id, ports=o.port, dir=o.dir
    )
    _log(f"cloned {source.id} to {made.unit} in {made.path}")
    _emit(made.public())
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


def do_get_ports(o: Opts) -> int:
    """The Warlock panel's port list (one entry per protocol), for its firewall page."""
    from .apps import find_app
    from .report import port_list

    host = _host()
    iid = _instance_id(o)
    insts = [host.registry.resolve(iid)] if iid else host.registry.all()
    _emit([row for i in insts for row in port_list(i, find_app(host.paths, i.app))])
    return 0


def _table(rows: list[list[str]]) -> str:
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
        _emit([inst.public() | live for inst, live in rows])
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


def _slugs(host: Any) -> dict[str, str]:
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
        answer = input(f"Delete instance {inst.id} ({inst.name}) {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
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
    if result.rolled_back or result.updated:
        what = (
            f"build {result.new_build} failed ({result.reason}); back on {result.old_build}"
            if result.rolled_back
            else f"updated from build {result.old_build} to {result.new_build}"
        )
        host.record_event(
            "update", inst.id, what, old_build=result.old_build, new_build=result.new_build,
            rolled_back=result.rolled_back,
        )  # fmt: skip
    if result.rolled_back:
        _log(
            f"error: update of {inst.id} to build {result.new_build} failed ({result.reason}); "
            f"rolled back to build {result.old_build}, which runs again"
        )
        return 1
    _log(f"{inst.id}: " + (f"now on build {result.new_build}" if result.updated else result.reason))
    return 0


def do_get_metrics(o: Opts) -> int:
    """get-services plus CPU and memory, from warlockd's cache (live when it is down)."""
    from .monitor import do_get_metrics as get

    host = _host()
    iid = _instance_id(o)
    _emit(get(host, [host.registry.resolve(iid)] if iid else host.registry.all()))
    return 0


def do_metrics(o: Opts) -> int:
    from .monitor import history, parse_since

    since = parse_since(o.since or "1h")
    host, inst = _one(o)
    rows = history(host, inst, since)
    if o.json:
        _emit(rows)
        return 0
    table = [["TIME", "STATUS", "CPU", "MEMORY", "PLAYERS", "DISK"]]
    for r in rows:
        table.append(
            [
                time.strftime("%m-%d %H:%M:%S", time.localtime(r["ts"])),
                str(r["status"]),
                "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.1f}%",
                "-" if r["memory_bytes"] is None else f"{r['memory_bytes'] >> 20} MB",
                "-" if r["players"] is None else str(r["players"]),
                "-" if r["disk_bytes"] is None else f"{r['disk_bytes'] >> 20} MB",
            ]
        )
    sys.stdout.write(
        _table(table) + "\n" if rows else f"no samples in the last {o.since or '1h'}\n"
    )
    return 0


def do_events(o: Opts) -> int:
    from .monitor import events, parse_since, render_events

    since = parse_since(o.since or "1d")
    host = _host()
    iid = _instance_id(o)
    rows = events(host, host.registry.resolve(iid) if iid else None, since)
    if o.json:
        _emit(rows)
    else:
        sys.stdout.write(render_events(rows))
    return 0


def do_dashboard(o: Opts) -> int:
    from .monitor import dashboard

    return dashboard(_host(), as_json=o.json, watch=o.watch)


def do_setup(o: Opts) -> int:
    from .actions import refresh_dropins
    from .setup import install

    host = _host()
    for path in install(host):
        _log(f"installed {path}")
    _log("warlockd.service is running")
    for unit in refresh_dropins(host):
        _log(f"rewrote the drop-in of {unit} (applies at its next start)")
    return 0


def do_backup(o: Opts) -> int:
    from .backup import backup

    host, inst = _one(o)
    result = backup(host, inst, o.max_backups)
    _emit(result.to_dict())
    _log(f"{inst.id}: backed up to {result.file}")
    return 0


def do_pack(o: Opts) -> int:
    from .backup import pack

    host, inst = _one(o)
    result = pack(host, inst)
    _emit(result)
    _log(f"{inst.id}: packed to {result['file']} (import it with: manage.py import FILE)")
    return 0


def do_import(o: Opts) -> int:
    from .backup import import_pack
    from .errors import InvalidInput

    if not o.archive:
        raise InvalidInput("import needs a pack: its absolute path", hint="manage.py pack")
    made = import_pack(
        _host(), o.archive, name=o.instance_name, instance_id=o.instance_id, ports=o.port,
        dir=o.dir,
    )  # fmt: skip
    _log(f"imported {o.archive} as {made.unit} in {made.path}")
    _emit(made.public())
    return 0


def do_restore(o: Opts) -> int:
    from .backup import restore
    from .errors import InvalidInput

    if not o.archive:
        raise InvalidInput("restore needs a backup: its name or path", hint="manage.py backup")
    host, inst = _one(o)
    result = restore(host, inst, o.archive, force=o.force)
    _emit(result)
    _log(f"{inst.id}: restored {result['restored']}")
    return 0


ACTIONS: dict[str, Callable[[Opts], int]] = {
    "backup": do_backup,
    "restore": do_restore,
    "pack": do_pack,
    "import": do_import,
    "setup": do_setup,
    "get-metrics": do_get_metrics,
    "metrics": do_metrics,
    "events": do_events,
    "dashboard": do_dashboard,
    "check-update": do_check_update,
    "update": do_update,
    "create": do_create,
    "clone": do_clone,
    "start": do_start,
    "stop": do_stop,
    "restart": do_restart,
    "enable": do_enable,
    "disable": do_disable,
    "status": do_status,
    "list": do_list,
    "get-services": do_get_services,
    "get-ports": do_get_ports,
    "logs": do_logs,
    "delete": do_delete,
    "cmd": do_cmd,
}


def report_error(e: Exception) -> int:
    """One line on stderr (a manifest's list of mistakes stays whole); the exit code."""
    from .errors import WarlockError

    if isinstance(e, WarlockError):
        text = e.message if e.exit_code == 2 else e.message.splitlines()[0]
        sys.stderr.write(f"error: {text}" + (f" (hint: {e.hint})" if e.hint else "") + "\n")
        return e.exit_code
    sys.stderr.write(
        f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)\n"
    )
    return 1
