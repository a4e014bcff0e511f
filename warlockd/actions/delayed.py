"""delayed-stop, delayed-restart, delayed-update: the action once nobody plays, and at the
latest when the warning time is up, the players told in the game on the way.

The command hands the wait to systemd: a transient unit `warlock-delayed-<id>.service`
runs it (it outlives the SSH session a panel starts it from with `&`, shows in systemctl
and the journal, and is stopped like any unit). A second call for the same instance joins
the one under way when it asks for the same action and replaces it when it asks for
another. Players hear of it through the game's own broadcast (the manifest's `[console]
say`, over its console or rcon) 5 minutes, 1 minute and 10 seconds before; the action
happens at once when the game's query says nobody is on (a game that cannot tell is taken
as played). The world is saved first where the manifest says how; each step is an event,
and so a webhook.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .. import fsutil
from ..apps import App, find_app
from ..console import send
from ..errors import InvalidInput, WarlockError
from ..host import Host
from ..model import Instance
from ..query import query
from ..units import PYTHON, render_values
from . import Args, Outcome, one
from .metrics import parse_since

ACTIONS = ("stop", "restart", "update")
WARNINGS = (300, 60, 10)  # seconds before the action when the players are told
CHECK = 10.0  # seconds between looks at who plays
MAX_WARN = 3600
_VERB = {"stop": "stops", "restart": "restarts", "update": "restarts for an update"}


class Plan(NamedTuple):
    action: str
    warn: float  # seconds, at the latest
    due: float  # when (epoch) it happens at the latest


def _unit(inst: Instance) -> str:
    return f"warlock-delayed-{inst.id}.service"


def _plan_file(host: Host, inst: Instance) -> Path:
    return host.paths.runtime / f"delayed-{inst.id}.json"


def do_delayed_stop(host: Host, args: Args) -> Outcome:
    return schedule(host, args, "stop")


def do_delayed_restart(host: Host, args: Args) -> Outcome:
    return schedule(host, args, "restart")


def do_delayed_update(host: Host, args: Args) -> Outcome:
    return schedule(host, args, "update")


def schedule(host: Host, args: Args, action: str) -> Outcome:
    inst = one(host, args)
    warn = parse_since(args.warn or "5m", "--warn")
    if warn > MAX_WARN:
        raise InvalidInput(f"--warn {args.warn}: at most 1h")
    if action == "update":
        from .update import check_update

        if not check_update(host, inst):
            return Outcome({"instance_id": inst.id, "action": action, "scheduled": False},
                           (f"{inst.id}: no update: nothing to do",))  # fmt: skip
    if args.wait:  # in the foreground: a schedule's job, or a person who wants to watch
        done = run(host, inst, action, warn)
        return Outcome({"instance_id": inst.id, "action": action, "done": done})
    unit = _unit(inst)
    current = host.systemd.states(unit).get(unit)
    under_way = _read_plan(host, inst) if current and current.active == "active" else None
    if under_way is not None and under_way.action == action:
        due = time.strftime("%H:%M:%S", time.localtime(under_way.due))
        note = f"{inst.id}: a delayed {action} is under way, at the latest at {due}"
        return Outcome(_shown(inst, under_way, unit, "joined"), (note,))
    if current is not None and current.active in ("active", "activating"):
        host.systemd.stop(unit, 30)  # another action: the newest asks for what is wanted
    plan = Plan(action, warn, time.time() + warn)
    host.paths.runtime.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(_plan_file(host, inst), json.dumps(plan._asdict()), 0o644)
    argv = [PYTHON, "-m", "warlockd.actions.delayed", inst.id, action, str(int(warn))]
    env = host.paths.to_env() | _python_path()
    host.systemd.start_transient(unit, argv, env, f"warlockd: {action} {inst.name} ({inst.id})")
    how = "replaced the one under way" if under_way else "scheduled"
    note = f"{inst.id}: {action} when nobody plays, at the latest in {_human(warn)}"
    return Outcome(_shown(inst, plan, unit, how), (note,))


def _shown(inst: Instance, plan: Plan, unit: str, how: str) -> dict[str, Any]:
    return {"instance_id": inst.id, "action": plan.action, "warn": plan.warn,
            "due": plan.due, "unit": unit, "scheduled": how}  # fmt: skip


def _python_path() -> dict[str, str]:
    from ..paths import PACKAGE_ROOT, from_checkout

    return {"PYTHONPATH": str(PACKAGE_ROOT)} if from_checkout() else {}


def _read_plan(host: Host, inst: Instance) -> Plan | None:
    try:
        return Plan(**json.loads(_plan_file(host, inst).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _human(seconds: float) -> str:
    s = round(seconds)
    if s >= 60 and s % 60 == 0:
        m = s // 60
        return f"{m} minute{'s' if m != 1 else ''}"
    return f"{s} second{'s' if s != 1 else ''}"


def players(host: Host, inst: Instance, app: App) -> int | None:
    """Who plays now, by the game's query; None when it cannot tell (taken as played)."""
    if app.query == "none" or not app.query_port:
        return None
    found = query(app.query, inst.ports[app.query_port])
    return None if found is None else found.player_count


def say(host: Host, inst: Instance, app: App, message: str) -> bool:
    """The message to every player through the game's own broadcast; whether it went."""
    if app.console.say is None:
        return False
    text = render_values({"say": app.console.say}, {"message": message})["say"]
    try:
        send(inst, app, text)
    except WarlockError as e:
        sys.stderr.write(f"warning: could not tell the players: {e}\n")
        return False
    return True


def run(
    host: Host, inst: Instance, action: str, warn: float,
    sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.monotonic,
    count: Callable[[], int | None] | None = None,
) -> str:  # fmt: skip
    """Wait for nobody (warning the players on the way), then do `action`; what happened."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown delayed action {action!r}", hint=", ".join(ACTIONS))
    app = find_app(host.paths, inst.app)
    who = count or (lambda: players(host, inst, app))
    deadline = now() + warn
    points = [p for p in WARNINGS if p < warn]
    told = False
    host.record_event("delayed", inst.id, f"{action} when nobody plays, at the latest in "
                      f"{_human(warn)}", action=action, warn=warn)  # fmt: skip
    while (left := deadline - now()) > 0.5:
        if who() == 0:
            host.record_event("delayed", inst.id, f"nobody plays: {action} now", action=action)
            break
        if not told or (points and left <= points[0] + 0.5):
            while points and points[0] + 0.5 >= left:
                points.pop(0)
            message = f"The server {_VERB[action]} in {_human(round(left))}."
            if say(host, inst, app, message):
                host.record_event("delayed", inst.id, f"told the players: {message}",
                                  action=action)  # fmt: skip
            told = True
        next_point = points[0] if points else 0.0
        sleep(max(0.1, min(CHECK, left - next_point)))
    return _act(host, inst, app, action, told)


def _act(host: Host, inst: Instance, app: App, action: str, told: bool) -> str:
    if app.console.save:
        try:
            send(inst, app, app.console.save)
        except WarlockError as e:
            sys.stderr.write(f"warning: could not save the world first: {e}\n")
    if told:
        say(host, inst, app, f"The server {_VERB[action]} now.")
    from .start_stop import restart, stop

    if action == "stop":
        stop(host, inst)
        done = "stopped"
    elif action == "restart":
        restart(host, inst)
        done = "restarted"
    else:
        from .update import update

        result = update(host, inst)
        done = "updated" if result.updated else f"not updated: {result.reason}"
    host.record_event("delayed", inst.id, f"{action}: {done}", action=action)
    return done


def main(argv: list[str]) -> int:
    """`python3 -m warlockd.actions.delayed ID ACTION SECONDS`: the transient unit's job."""
    from ..model import parse_id

    try:
        host = Host.from_env()
        inst = host.registry.get(parse_id(argv[0]))
        done = run(host, inst, argv[1], float(argv[2]))
    except WarlockError as e:
        sys.stderr.write(f"error: {e}\n")  # the unit's journal, and its failed state
        return e.exit_code
    finally:
        if argv:
            with_plan = Host.from_env().paths.runtime / f"delayed-{argv[0]}.json"
            with_plan.unlink(missing_ok=True)
    sys.stderr.write(f"{argv[0]}: {done}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
