"""manage.py: one implementation, two spellings (`--start` flags and `start` subcommands).

Machine-read output is pure JSON on stdout; errors are one line on stderr.
(No `from __future__ import annotations` here: typer 0.7 reads the annotations.)
"""

import sys
from typing import Any, Dict, List, Optional

import typer

from . import __version__
from .commands import ACTIONS, VERBS, Opts, do_cmd, do_create, do_delete, do_logs, report_error

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
O_SINCE = typer.Option(
    None, "--since", help="How far back: 15m, 1h, 2d, 1w (metrics: 1h, events: 1d)."
)
O_WATCH = typer.Option(False, "--watch", "-w", help="Refresh every 2 s.")
O_MAX_BACKUPS = typer.Option(None, "--max-backups", help="Keep only the newest N backups.")
O_FORCE = typer.Option(False, "--force", help="Restore: stop a running game first.")

app = typer.Typer(
    add_completion=False,
    help=f"Warlock Manager: {__version__}\n\nRun game-server instances as systemd units "
    "(game@<id>.service). Every command takes --instance <uuid|default>.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _merge(ctx: typer.Context, **given: Any) -> Opts:
    """Options given before the subcommand (`--instance X start`) count too."""
    base: Opts = ctx.obj if isinstance(ctx.obj, Opts) else Opts()
    changes: dict[str, Any] = {}
    for name in Opts._fields:
        value = given.get(name)
        is_set = value is not None and value is not False and value not in ([], ())
        if is_set and not (name == "lines" and value == 50):  # 0 counts: `is`, not `==`
            changes[name] = list(value) if isinstance(value, (list, tuple)) else value
    return base._replace(**changes)


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
    clone: bool = typer.Option(
        False, "--clone", help="A new instance with a copy of this one's saves (as JSON)."
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
    get_ports: bool = typer.Option(
        False, "--get-ports", help="JSON: each port with its protocol and description."
    ),
    logs: bool = typer.Option(False, "--logs", help="Show the instance's journal."),
    delete: bool = typer.Option(
        False, "--delete", help="Delete the instance (--purge: and its data)."
    ),
    cmd: Optional[str] = typer.Option(None, "--cmd", help="Send a console command to the game."),
    check_update: bool = typer.Option(False, "--check-update", help="Exit 0 if an update exists."),
    get_metrics: bool = typer.Option(
        False, "--get-metrics", help="JSON: services plus CPU, memory."
    ),
    metrics: bool = typer.Option(False, "--metrics", help="Metrics history (--since 1h)."),
    events: bool = typer.Option(False, "--events", help="Events (--since 1d)."),
    dashboard: bool = typer.Option(False, "--dashboard", help="Every instance on one screen."),
    setup: bool = typer.Option(False, "--setup", help="Install warlockd from this checkout."),
    backup: bool = typer.Option(False, "--backup", help="Archive the saves to <dir>/backups."),
    restore: Optional[str] = typer.Option(
        None, "--restore", help="Restore a backup (its name or path); --force if running."
    ),
    pack: bool = typer.Option(
        False, "--pack", help="Pack the instance (settings and saves) for another host."
    ),
    import_: Optional[str] = typer.Option(
        None, "--import", help="A new instance from a pack (its absolute path)."
    ),
    max_backups: Optional[int] = O_MAX_BACKUPS,
    force: bool = O_FORCE,
    since: Optional[str] = O_SINCE,
    watch: bool = O_WATCH,
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
        since,
        watch,
        max_backups,
        restore if restore is not None else import_,
        force,
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
                clone,
                start,
                stop,
                restart,
                enable,
                disable,
                status,
                list_,
                get_services,
                get_ports,
                logs,
                delete,
                cmd is not None,
                get_metrics,
                metrics,
                events,
                dashboard,
                setup,
                backup,
                restore is not None,
                pack,
                import_ is not None,
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


@app.command("clone")
def clone_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    instance_name: Optional[str] = O_NAME,
    instance_id: Optional[str] = O_ID,
    port: List[str] = O_PORT,
    dir: Optional[str] = O_DIR,
    debug: bool = O_DEBUG,
) -> None:
    """A new instance of the same game with a copy of this one's saves, limits and env;
    its own id, ports, user and secrets (printed as JSON)."""
    raise typer.Exit(ACTIONS["clone"](_merge(ctx, **_named(locals()))))


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
    ("pack", "Pack the instance's settings and saves into <dir>/backups, for `import`."),
    ("get-ports", "JSON: each port, its protocol and description (all without --instance)."),
    ("check-update", "Exit 0 if a newer build of the instance's game exists."),
    ("update", "Install the newest build, move the instance to it, roll back if it fails."),
    ("get-metrics", "JSON: get-services plus CPU and memory (from warlockd, live if it is down)."),
    (
        "setup",
        "Install and start warlockd (template, daemon, D-Bus policy) from this checkout; "
        "rewrite the instances' drop-ins that are out of date.",
    ),
):
    _simple(_verb, _doc)


@app.command("backup")
def backup_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    max_backups: Optional[int] = O_MAX_BACKUPS,
    debug: bool = O_DEBUG,
) -> None:
    """Archive the instance's saves to <dir>/backups (--max-backups N keeps the newest N)."""
    raise typer.Exit(ACTIONS["backup"](_merge(ctx, **_named(locals()))))


@app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    archive: str = typer.Argument(..., help="A backup's file name, or its absolute path."),
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    force: bool = O_FORCE,
    debug: bool = O_DEBUG,
) -> None:
    """Put a backup's saves back (a safety backup is made first; --force if running)."""
    raise typer.Exit(ACTIONS["restore"](_merge(ctx, **_named(locals()))))


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    archive: str = typer.Argument(..., help="The pack's absolute path."),
    instance_name: Optional[str] = O_NAME,
    instance_id: Optional[str] = O_ID,
    port: List[str] = O_PORT,
    dir: Optional[str] = O_DIR,
    debug: bool = O_DEBUG,
) -> None:
    """A new instance from a pack made by `pack` (on this host or another): its game,
    name, limits, env and saves; its own id, ports, user and secrets (printed as JSON)."""
    raise typer.Exit(ACTIONS["import"](_merge(ctx, **_named(locals()))))


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
        if debug:
            raise
        return report_error(e)
    except KeyboardInterrupt:
        return 130


@app.command("metrics")
def metrics_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    since: str = O_SINCE,
    json_: bool = O_JSON,
    debug: bool = O_DEBUG,
) -> None:
    """The instance's metrics history (--since 1h)."""
    raise typer.Exit(ACTIONS["metrics"](_merge(ctx, **_named(locals()))))


@app.command("events")
def events_cmd(
    ctx: typer.Context,
    instance: Optional[str] = O_INSTANCE,
    service: Optional[str] = O_SERVICE,
    since: Optional[str] = O_SINCE,
    json_: bool = O_JSON,
    debug: bool = O_DEBUG,
) -> None:
    """Events: started, stopped, crashed, frozen, restarted, update... (--since 1d)."""
    raise typer.Exit(ACTIONS["events"](_merge(ctx, **_named(locals()))))


@app.command("dashboard")
def dashboard_cmd(
    ctx: typer.Context, watch: bool = O_WATCH, json_: bool = O_JSON, debug: bool = O_DEBUG
) -> None:
    """Every instance on one screen: status, players, CPU, memory, uptime (--watch)."""
    raise typer.Exit(ACTIONS["dashboard"](_merge(ctx, **_named(locals()))))
