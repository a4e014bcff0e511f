"""The verbs, one module each: what every front door (manage.py, D-Bus, HTTP) does.

A front door parses its input into `Args` (an instance id already checked), finds the
command in the table (warlockd/commands.py) and calls its handler, a `do_<verb>(host,
args) -> Outcome` function in one of these modules. The handler checks everything first,
then changes systemd and disk through the nouns (registry, units, systemd, ports,
accounts, sources, archives...), undoing its steps on failure, and returns data: the
front door decides how to show it (JSON, a table, an exit code, a D-Bus reply).

This module is imported on every call: it holds only the two records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..model import InstanceId

if TYPE_CHECKING:
    from ..host import Host
    from ..model import Instance


class Args(NamedTuple):
    """Every option any command takes, by name; a command reads the ones it declares."""

    instance: InstanceId | None = None  # --instance or --service: the instance acted on
    json: bool = False
    debug: bool = False
    app: str | None = None
    instance_name: str | None = None
    instance_id: InstanceId | None = None  # create, clone, import: the new instance's id
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
    text: str | None = None  # cmd: the console command
    since: str | None = None  # metrics: 1h, events: 1d
    watch: bool = False
    max_backups: int | None = None
    archive: str | None = None  # restore: a backup's name or path; import: a pack's path
    force: bool = False
    setting: Sequence[str] = ()  # set-config: the option's name and its value
    to: str = "local"  # backup: local (the .tar.gz panels list) or offsite (restic)
    warn: str | None = None  # delayed-*: how long players get, at the latest (5m)
    wait: bool = False  # delayed-*: in the foreground, until it is done
    task: Sequence[str] = ()  # schedule add: the task, and a command's text
    on_calendar: str | None = None  # schedule add: systemd's calendar expression
    randomized_delay: str | None = None  # schedule add: RandomizedDelaySec=, a duration
    when_empty: bool = False  # schedule add update: only while nobody plays
    schedule: str | None = None  # schedule remove/pause/resume/run: its id
    confirm: bool = False  # remove: yes, all of it
    # set by the manage.py at a registered path (cli/entry.run_for), not by an option:
    scope_app: str | None = None  # a game's manage.py: only that app's instances
    # api-key and user (actions/access.py); --name fills instance_name:
    action: str | None = None  # the sub-action: create, list, revoke; add, passwd, remove, list
    scope: str | None = None  # read, operate or admin
    only: Sequence[str] = ()  # the instances a key or a user is limited to (none: all)
    password: str | None = None  # set by the HTTP API only; the CLI reads it from stdin


class Outcome(NamedTuple):
    """What a command did, for its front door to show."""

    data: Any = None  # what programs read: JSON on stdout, the D-Bus or HTTP answer
    notes: tuple[str, ...] = ()  # what people read: stderr lines, the journal
    code: int = 0  # the exit status; yes/no commands answer with it (0 = yes)
    view: Any = None  # what only a table for people needs (app slugs...)


def one(host: Host, args: Args) -> Instance:
    """The instance a command acts on: the one named, else `default` (at a game's
    manage.py: its one instance), else an error listing the choices."""
    if args.scope_app is None:
        return host.registry.resolve(args.instance)
    if args.instance:
        return _in_scope(host.registry.get(args.instance), args.scope_app)
    mine = some(host, args)
    if len(mine) == 1:
        return mine[0]
    from ..errors import InvalidInput

    names = ", ".join(i.unit.removesuffix(".service") for i in mine) or "none"
    raise InvalidInput("no --service given", hint=f"the services are {names}")


def some(host: Host, args: Args) -> list[Instance]:
    """The instance named, or every instance when none is (of the game, at its manage.py)."""
    if args.instance:
        return [one(host, args)]
    found = host.registry.all()
    return [i for i in found if i.app == args.scope_app] if args.scope_app else found


def _in_scope(inst: Instance, app: str) -> Instance:
    if inst.app != app:  # another game's instance is not this manage.py's to act on
        from ..errors import NotFound

        raise NotFound(f"no service {inst.unit.removesuffix('.service')} here")
    return inst
