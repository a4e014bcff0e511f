"""The table of commands: every command warlockd answers, declared once.

Each row names the command, its handler (`do_<verb>` in a module of actions/), its help,
its options, how its result is shown (Output) and whether the panels' fast path may
answer it without typer. Everything else is generated from it: both spellings of
manage.py (`--start` flags and `start` subcommands) and their --help (cli/full.py), the
fast path (cli/fast.py), bash completion (completion.py); the D-Bus API calls the
same rows (daemon/dbus_api.py). Adding a command is one row here plus one handler.

Importing this module must stay cheap: every manage.py call does, so handlers are named
by module and function and imported only when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from .actions import Args, Outcome

if TYPE_CHECKING:
    from .host import Host


class Output(Enum):
    """How a command's Outcome reaches a person or a program on the command line."""

    JSON = "json"  # data as JSON on stdout (what panels parse)
    PEOPLE = "people"  # a table for people; JSON with --json
    EXIT = "exit"  # the exit code is the answer (check-update: 0 = an update exists)
    TEXT = "text"  # data as text on stdout (a console command's reply)
    EXEC = "exec"  # data is a command line to run in our place (journalctl)
    NOTES = "notes"  # only messages, on stderr


class Option(NamedTuple):
    name: str  # the Args field it fills
    flags: tuple[str, ...]  # as typed: ("--instance", "-i")
    help: str
    kind: type = str  # str, int, bool, or list (repeatable, of str)
    default: Any = None
    metavar: str = ""
    arity: int = 1  # an argument of several values (set-config OPTION VALUE)

    @property
    def takes_value(self) -> bool:
        return self.kind is not bool


class Command(NamedTuple):
    name: str
    handler: str  # "module:function" under warlockd.actions
    help: str
    options: tuple[Option, ...] = ()
    argument: Option | None = None  # positional in `verb ARG`, the value of `--verb ARG`
    output: Output = Output.NOTES
    fast: bool = False  # the fast path may answer it (cli/fast.py)
    flag_help: str = ""  # the help of its --flag spelling, when shorter than `help`
    # --service names the instance to make, not one that exists (the panels' create-service)
    names_new: bool = False

    @property
    def acts_on_one(self) -> bool:
        """It acts on an existing instance (named by --instance or --service)."""
        return any(o.name == "service" for o in self.options) and not self.names_new

    def run(self, host: Host, args: Args) -> Outcome:
        module, _, function = self.handler.partition(":")
        handler: Callable[[Host, Args], Outcome] = getattr(
            importlib.import_module(f"warlockd.actions.{module}"), function
        )
        return handler(host, args)


INSTANCE = Option("instance", ("--instance", "-i"), "Instance id (a UUID or 'default').")
SERVICE = Option("service", ("--service",), "Unit name game@<id>; another way to name it.")
JSON = Option("json", ("--json",), "Print JSON instead of a table.", bool, False)
DEBUG = Option("debug", ("--debug",), "Show tracebacks.", bool, False)
APP = Option("app", ("--app",), "App slug or guid (create).")
NAME = Option("instance_name", ("--instance-name", "--name"), "Human name, at most 64 characters.")
NEW_ID = Option(
    "instance_id", ("--instance-id",), "UUID for the new instance (default: generated)."
)
PORT = Option("port", ("--port",), "key=N: pick a port (repeatable).", list, ())
DIR = Option("dir", ("--dir",), "Absolute instance directory.")
ENV = Option(
    "env", ("--env",), "NAME=value added to the game's environment (repeatable).", list, ()
)
CPU = Option("cpu_quota", ("--cpu-quota",), "CPU limit in percent of one CPU.", int)
MEMORY = Option("memory_max", ("--memory-max",), "Memory limit, e.g. 2G.")
TASKS = Option("tasks_max", ("--tasks-max",), "Process/thread limit.", int)
AFFINITY = Option("cpu_affinity", ("--cpu-affinity",), "CPUs to run on, e.g. 0-1.")
YES = Option("yes", ("--yes", "-y"), "Do not ask for confirmation.", bool, False)
PURGE = Option("purge", ("--purge",), "Also remove the data and the instance user.", bool, False)
FOLLOW = Option("follow", ("--follow", "-f"), "Follow the journal.", bool, False)
LINES = Option("lines", ("--lines", "-n"), "Journal lines to show.", int, 50)
SINCE = Option("since", ("--since",), "How far back: 15m, 1h, 2d, 1w (metrics: 1h, events: 1d).")
WATCH = Option("watch", ("--watch", "-w"), "Refresh every 2 s.", bool, False)
MAX_BACKUPS = Option(
    "max_backups", ("--max-backups", "--keep"), "Keep only the newest N backups.", int
)
FORCE = Option("force", ("--force",), "Restore: stop a running game first.", bool, False)
TEXT = Option("text", ("--cmd",), "The console command.", metavar="TEXT")
BACKUP = Option("archive", ("--restore",), "A backup's file name, or its absolute path.")
RCON = Option("text", ("--rcon",), "The console command (over rcon where the game has it).",
              metavar="TEXT")  # fmt: skip
SETTING = Option("setting", ("--set-config",), "The option's name and its new value.",
                 list, None, "OPTION VALUE", arity=2)  # fmt: skip
CONFIRM = Option("confirm", ("--confirm",), "Yes: remove it and all its data.", bool, False)
TO = Option("to", ("--to",), "Where: local (the default, <dir>/backups) or offsite.", str,
            "local")  # fmt: skip
WARN = Option("warn", ("--warn",), "How long players get, at the latest: 30s, 5m (default), 1h.")
WAIT = Option("wait", ("--wait",), "Stay until it is done (the default hands it to systemd).",
              bool, False)  # fmt: skip
PACK = Option("archive", ("--import",), "The pack's absolute path.")
CM_PACK = Option("archive", ("--import-pack",), "The pack: a .tar.gz or .zip Content Manager made.",
                 metavar="FILE")  # fmt: skip
KEY_ACTION = Option("action", ("--api-key",), "create, list or revoke.", metavar="ACTION")
USER_ACTION = Option("action", ("--user",), "add, passwd, remove or list.", metavar="ACTION")
WHO = Option("instance_name", ("--name",), "The key's or the user's name (revoke: or key id).")
SCOPE = Option("scope", ("--scope",), "read, operate or admin (default read; a first user: admin).")
ONLY = Option("only", ("--only",), "Only this instance (repeatable; default: every one).", list,
              ())  # fmt: skip

# Every command names its instance the same ways; JSON is accepted everywhere it was.
ONE = (INSTANCE, SERVICE)
NEW = (NAME, NEW_ID, PORT, DIR)
LIMITS = (CPU, MEMORY, TASKS, AFFINITY)
DELAYED = (*ONE, WARN, WAIT)
TASK = Option("task", ("--schedule-add",), "backup, restart, update, or command TEXT.", list,
              (), "TASK [TEXT]", arity=-1)  # fmt: skip
CALENDAR = Option(
    "on_calendar",
    ("--on-calendar",),
    "When, in systemd's calendar syntax: hourly, 'Mon 06:00', '*-*-* 05:00'.",
)
SPREAD = Option(
    "randomized_delay",
    ("--randomized-delay",),
    "Start up to this much later, at random (10m), so many do not start at once.",
)
WHEN_EMPTY = Option("when_empty", ("--when-empty",), "update: only while nobody plays.", bool,
                    False)  # fmt: skip
SCHEDULE_ADD = (*ONE, CALENDAR, SPREAD, MAX_BACKUPS, TO, WARN, WHEN_EMPTY)


def _schedule_id(flag: str) -> Option:
    return Option("schedule", (flag,), "The schedule's id (schedule list shows them).",
                  metavar="ID")  # fmt: skip


TABLE: tuple[Command, ...] = (
    Command("check-update", "update:do_check_update",
            "Exit 0 if a newer build of the instance's game exists.", (*ONE, JSON),
            output=Output.EXIT, flag_help="Exit 0 if an update exists."),
    Command("update", "update:do_update",
            "Install the newest build, move the instance to it, roll back if it fails.",
            (*ONE, JSON), output=Output.JSON,
            flag_help="Update; roll back if it fails to start."),
    Command("create", "create:do_create", "Create an instance of an app (printed as JSON).",
            (APP, INSTANCE, *NEW, ENV, *LIMITS), output=Output.JSON, fast=True,
            flag_help="Create an instance of --app (printed as JSON)."),
    Command("clone", "clone:do_clone",
            "A new instance of the same game with a copy of this one's saves, limits and "
            "env; its own id, ports, user and secrets (printed as JSON).", (*ONE, *NEW),
            output=Output.JSON,
            flag_help="A new instance with a copy of this one's saves (as JSON)."),
    Command("start", "start_stop:do_start", "Start the instance; returns once it is ready.",
            (*ONE, JSON), fast=True),
    Command("stop", "start_stop:do_stop", "Stop the instance.", (*ONE, JSON), fast=True),
    Command("restart", "start_stop:do_restart", "Restart the instance.", (*ONE, JSON),
            fast=True),
    Command("enable", "start_stop:do_enable", "Start the instance at boot.", (*ONE, JSON)),
    Command("disable", "start_stop:do_disable", "Do not start the instance at boot.",
            (*ONE, JSON), flag_help="Do not start it at boot."),
    Command("status", "services:do_status", "Show the instance's state.", (*ONE, JSON),
            output=Output.PEOPLE),
    Command("list", "services:do_list",
            "List every instance: id, name, app, status, ports, uptime.", (JSON,),
            output=Output.PEOPLE, fast=True, flag_help="List every instance."),
    Command("get-services", "services:do_get_services",
            "JSON: status, ports, pids, players (all instances without --instance).",
            (*ONE, JSON), output=Output.JSON, fast=True,
            flag_help="JSON: status, ports, pids, players."),
    Command("get-ports", "services:do_get_ports",
            "JSON: each port, its protocol and description (all without --instance).",
            (*ONE, JSON), output=Output.JSON, fast=True,
            flag_help="JSON: each port with its protocol and description."),
    Command("logs", "console:do_logs", "Show the instance's journal (-f follows it).",
            (*ONE, FOLLOW, LINES), output=Output.EXEC,
            flag_help="Show the instance's journal."),
    Command("delete", "delete:do_delete", "Delete the instance (--purge: also its data and user).",
            (*ONE, YES, PURGE), flag_help="Delete the instance (--purge: and its data)."),
    Command("cmd", "console:do_cmd", "Send a console command to the game.", ONE, TEXT,
            output=Output.TEXT),
    Command("get-metrics", "metrics:do_get_metrics",
            "JSON: get-services plus CPU and memory (from warlockd, live if it is down).",
            (*ONE, JSON), output=Output.JSON, fast=True,
            flag_help="JSON: services plus CPU, memory."),
    Command("metrics", "metrics:do_metrics", "The instance's metrics history (--since 1h).",
            (*ONE, SINCE, JSON), output=Output.PEOPLE, flag_help="Metrics history (--since 1h)."),
    Command("events", "metrics:do_events",
            "Events: started, stopped, crashed, frozen, restarted, update... (--since 1d).",
            (*ONE, SINCE, JSON), output=Output.PEOPLE, flag_help="Events (--since 1d)."),
    Command("dashboard", "dashboard:do_dashboard",
            "Every instance on one screen: status, players, CPU, memory, uptime (--watch).",
            (WATCH, JSON), output=Output.PEOPLE, flag_help="Every instance on one screen."),
    Command("setup", "setup:do_setup",
            "Install and start warlockd (template, daemon, D-Bus policy) from this checkout; "
            "rewrite the instances' drop-ins that are out of date.",
            flag_help="Install warlockd from this checkout."),
    Command("backup", "backup:do_backup",
            "Archive the instance's saves to <dir>/backups (--max-backups N keeps the newest N).",
            (*ONE, MAX_BACKUPS, TO), output=Output.JSON,
            flag_help="Archive the saves to <dir>/backups (--to offsite: a snapshot)."),
    Command("restore", "restore:do_restore",
            "Put a backup's saves back (a safety backup is made first; --force if running).",
            (*ONE, FORCE), BACKUP, output=Output.JSON,
            flag_help="Restore a backup (its name or path); --force if running."),
    Command("pack", "pack:do_pack",
            "Pack the instance's settings and saves into <dir>/backups, for `import`.",
            (*ONE, JSON), output=Output.JSON,
            flag_help="Pack the instance (settings and saves) for another host."),
    Command("import", "pack:do_import",
            "A new instance from a pack made by `pack` (on this host or another): its game, "
            "name, limits, env and saves; its own id, ports, user and secrets (printed as "
            "JSON).", NEW, PACK, output=Output.JSON,
            flag_help="A new instance from a pack (its absolute path)."),
    # -- the HTTP API's access (actions/access.py) and what it lists (catalog.py) --
    Command("api-key", "access:do_api_key",
            "API keys of the HTTP API: create --name N --scope read|operate|admin [--only ID] "
            "(the key is printed once), list, revoke --name N.", (WHO, SCOPE, ONLY, JSON),
            KEY_ACTION, output=Output.JSON, flag_help="API keys: create, list, revoke."),
    Command("user", "access:do_user",
            "Dashboard users: add --name N [--scope S] [--only ID] (the password from a prompt "
            "or stdin), passwd --name N, remove --name N, list.", (WHO, SCOPE, ONLY, JSON),
            USER_ACTION, output=Output.JSON,
            flag_help="Dashboard users: add, passwd, remove, list."),
    Command("apps", "catalog:do_apps",
            "JSON: the games this host can run (slug, title, ports, settings); --app one.",
            (APP, JSON), output=Output.JSON, flag_help="JSON: the games this host can run."),
    # -- what Warlock panels call (warlock-contract.md) --
    Command("get-configs", "configs:do_get_configs",
            "JSON: the game's settings (option, default, value, type, help, options, group).",
            (*ONE, JSON), output=Output.JSON),
    Command("set-config", "configs:do_set_config",
            "Change one setting in the game's own file (checked first; a restart applies it).",
            ONE, SETTING, output=Output.JSON, flag_help="Change one setting: OPTION VALUE."),
    Command("is-running", "panel:do_is_running", "Exit 0 if the instance is running.", ONE,
            output=Output.EXIT),
    Command("has-players", "panel:do_has_players",
            "Exit 0 if players are online (or the game cannot tell), 1 if nobody is.", ONE,
            output=Output.EXIT, flag_help="Exit 0 if players are online."),
    Command("get-commands", "panel:do_get_commands", "JSON: the game's console commands.",
            ONE, output=Output.JSON),
    Command("rcon", "console:do_rcon",
            "Send a console command to the game (the v1 name of cmd).", ONE, RCON,
            output=Output.TEXT),
    Command("create-service", "panel:do_create_service",
            "A new instance of this game named --service NAME; prints CreatedService:<unit>.",
            (SERVICE, APP, NEW_ID, PORT, DIR), output=Output.TEXT, names_new=True,
            flag_help="A new instance named --service NAME."),
    Command("remove-service", "panel:do_remove_service",
            "Delete the instance --service names, with its data (not a game's last one).", ONE),
    Command("first-run", "panel:do_first_run",
            "Install the game's files and the instance's directories (safe to repeat).", ONE),
    Command("remove", "panel:do_remove",
            "Remove the instance (at a game's manage.py: all of the game's) and its data; "
            "--confirm.", (*ONE, CONFIRM), flag_help="Remove it and its data (--confirm)."),
    # -- schedules, player-aware operations, off-site backups --
    Command("delayed-stop", "delayed:do_delayed_stop",
            "Stop once nobody plays, after warning the players in the game (--warn 5m).",
            DELAYED, output=Output.JSON, flag_help="Stop once nobody plays (players warned)."),
    Command("delayed-restart", "delayed:do_delayed_restart",
            "Restart once nobody plays, after warning the players in the game (--warn 5m).",
            DELAYED, output=Output.JSON,
            flag_help="Restart once nobody plays (players warned)."),
    Command("delayed-update", "delayed:do_delayed_update",
            "Update once nobody plays, players warned; nothing when no update exists.",
            DELAYED, output=Output.JSON,
            flag_help="Update once nobody plays (players warned)."),
    Command("schedule-add", "schedule:do_schedule_add",
            "A task on a calendar, run by a systemd timer: backup (--keep N), restart "
            "(--warn 10m), update (--when-empty), command TEXT (`schedule add`).",
            SCHEDULE_ADD, TASK, output=Output.JSON, flag_help="Schedule a task (TASK [TEXT])."),
    Command("schedule-list", "schedule:do_schedule_list",
            "Every schedule (of the instance, or all): next run, last run and its result.",
            (*ONE, JSON), output=Output.PEOPLE, flag_help="List the schedules."),
    Command("schedule-remove", "schedule:do_schedule_remove", "Remove a schedule and its timer.",
            (), _schedule_id("--schedule-remove")),
    Command("schedule-pause", "schedule:do_schedule_pause",
            "Stop a schedule's timer, keeping the schedule.", (), _schedule_id("--schedule-pause")),
    Command("schedule-resume", "schedule:do_schedule_resume",
            "Start a paused schedule's timer again.", (), _schedule_id("--schedule-resume")),
    Command("schedule-run", "schedule:do_schedule_run",
            "Run a schedule's task now (what its timer does).", (),
            _schedule_id("--schedule-run"), output=Output.JSON),
    Command("backups", "backup:do_backups",
            "Local backups and off-site snapshots, newest first (what restore takes).",
            (*ONE, JSON), output=Output.PEOPLE, flag_help="List the backups and snapshots."),
    # -- Assetto Corsa server packs --
    Command("import-pack", "import_pack:do_import_pack",
            "A new Assetto Corsa instance from a server pack made in Content Manager (with its "
            "Linux acServer): its own UDP/TCP/HTTP ports, written into its server_cfg.ini; the "
            "server files shared by every instance of that pack (printed as JSON).",
            (APP, *NEW), CM_PACK, output=Output.JSON,
            flag_help="An instance from a Content Manager server pack (as JSON)."),
    Command("link", "link:do_link",
            "The join link the instance announced (Assetto Corsa: acstuff.ru/s/q:race/...).",
            ONE, output=Output.TEXT, flag_help="The join link the instance announced."),
)  # fmt: skip

COMMANDS: dict[str, Command] = {c.name: c for c in TABLE}
# The version of Warlock Manager's command line these commands implement (its v2: typer
# subcommands; warlock-contract.md); --help says it, and panels pick the dialect from it.
DIALECT = "2.2.0"
GLOBAL = (DEBUG,)  # taken by every command in both spellings


def call(host: Host, name: str, args: Args) -> Outcome:
    """Run a command: what every front door does once it has parsed its input."""
    return COMMANDS[name].run(host, args)
