"""schedule add, list, remove, pause, resume, and the timers' job (schedule-run): tasks of
an instance run by systemd timers (schedules.py). Tasks: backup (--keep N, --to offsite),
restart (--warn: players told first, as delayed-restart), update (--when-empty: only while
nobody plays; else warned), command (a console command). A run that fails is an event
(and a webhook) and the timer's job fails (systemctl shows it)."""

from __future__ import annotations

import sys
import time
from typing import Any

from .. import schedules
from ..errors import InvalidInput, WarlockError
from ..host import Host
from ..model import TASKS, WARN_RE, Instance, Schedule
from ..store import Store
from . import Args, Outcome, one, some
from .delayed import MAX_WARN
from .metrics import parse_since


def _task(args: Args) -> tuple[str, str | None]:
    words = list(args.task)
    if not words:
        raise InvalidInput("schedule add needs a task", hint=", ".join(TASKS))
    task, text = words[0], " ".join(words[1:]) or None
    if task not in TASKS:
        raise InvalidInput(f"unknown task {task!r}", hint=f"the tasks are {', '.join(TASKS)}")
    if (text is not None) != (task == "command"):
        raise InvalidInput(
            "only the command task takes text" if text else "command needs the console command",
            hint='schedule add command "say Vote for the next map!" --on-calendar "*:0/30"',
        )
    return task, text


def do_schedule_add(host: Host, args: Args) -> Outcome:
    task, text = _task(args)
    if text is not None and (not text.strip() or not text.isprintable()):
        raise InvalidInput("a console command is one line of printable text")
    if not args.on_calendar:
        raise InvalidInput("schedule add needs --on-calendar", hint='e.g. "*-*-* 05:00"')
    calendar = schedules.check_calendar(args.on_calendar)  # systemd's own parser
    delay = (
        int(parse_since(args.randomized_delay, "--randomized-delay"))
        if args.randomized_delay
        else 0
    )
    if delay > 86400:
        raise InvalidInput("--randomized-delay: at most 1d")
    if args.max_backups is not None and (task != "backup" or args.max_backups < 1):
        raise InvalidInput("--keep: 1 or more, for the backup task")
    if args.warn is not None:
        if task not in ("restart", "update"):
            raise InvalidInput("--warn is for the restart and update tasks")
        if not WARN_RE.fullmatch(args.warn) or parse_since(args.warn, "--warn") > MAX_WARN:
            raise InvalidInput(f"--warn {args.warn!r}: a time up to 1h, e.g. 90s, 5m or 1h")
    if args.when_empty and task != "update":
        raise InvalidInput("--when-empty is for the update task")
    if args.to != "local" and task != "backup":
        raise InvalidInput("--to is for the backup task")
    with host.registry.lock():
        inst = one(host, args)
        s = Schedule(
            schedules.new_id(), task, calendar, delay, args.max_backups, args.to,
            args.warn, args.when_empty, text,
        )  # fmt: skip
        schedules.install(host.paths, host.systemd, inst, s)
        host.registry.save(inst.with_(schedules=(*inst.schedules, s)))
    return Outcome(
        _row(host, inst, s, {}, {}), (f"added {schedules.timer(s)}: {task} at {calendar}",)
    )


def do_schedule_list(host: Host, args: Args) -> Outcome:
    """Every schedule (of the instance named, or of all): next run from systemd, last run
    and its result from warlockd's events."""
    found = [(i, s) for i in some(host, args) for s in i.schedules]
    timers = host.systemd.timers(f"{schedules.TEMPLATE}*.timer") if found else {}
    last = _last_runs(host) if found else {}
    return Outcome([_row(host, i, s, timers, last) for i, s in found])


def _row(
    host: Host, inst: Instance, s: Schedule, timers: dict[str, Any], last: dict[str, Any]
) -> dict[str, Any]:
    t = timers.get(schedules.timer(s))
    run = last.get(s.id, {})
    return s.to_dict() | {
        "instance_id": inst.id, "name": inst.name, "timer": schedules.timer(s),
        "next_run": _iso(t.next_elapse) if t and not s.paused else None,
        "last_run": _iso(run.get("ts", 0.0)), "last_result": run.get("result"),
    }  # fmt: skip


def _iso(ts: float) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts)) if ts else None


def _last_runs(host: Host) -> dict[str, dict[str, Any]]:
    store = Store(host.paths.database)
    try:
        out: dict[str, dict[str, Any]] = {}
        for ev in store.events(0.0):
            if ev.kind == "schedule" and "schedule" in ev.data:
                out[str(ev.data["schedule"])] = {"ts": ev.ts, "result": ev.data.get("result")}
        return out
    finally:
        store.close()


def _change(host: Host, args: Args, what: str) -> Outcome:
    if not args.schedule:
        raise InvalidInput(f"schedule {what} needs the schedule's id", hint="schedule list")
    with host.registry.lock():
        inst, s = schedules.find(host.registry.all(), args.schedule)
        kept = tuple(x for x in inst.schedules if x.id != s.id)
        if what == "remove":
            schedules.uninstall(host.paths, host.systemd, s)
            host.systemd.reload()
            host.registry.save(inst.with_(schedules=kept))
        else:
            (schedules.pause if what == "pause" else schedules.resume)(host.systemd, s)
            changed = s._replace(paused=what == "pause")
            host.registry.save(inst.with_(schedules=(*kept, changed)))
    return Outcome({"schedule": s.id, "instance_id": inst.id, "done": what},
                   (f"{schedules.timer(s)}: {what}d",))  # fmt: skip


def do_schedule_remove(host: Host, args: Args) -> Outcome:
    return _change(host, args, "remove")


def do_schedule_pause(host: Host, args: Args) -> Outcome:
    return _change(host, args, "pause")


def do_schedule_resume(host: Host, args: Args) -> Outcome:
    return _change(host, args, "resume")


def do_schedule_run(host: Host, args: Args) -> Outcome:
    """The timer's job: the schedule's task, now. Its result is an event either way."""
    inst, s = schedules.find(host.registry.all(), args.schedule or "")
    try:
        result = _run(host, inst, s)
    except WarlockError as e:
        host.record_event("schedule", inst.id, f"{s.task} ({s.id}) failed: {e.message}",
                          schedule=s.id, task=s.task, result="failed")  # fmt: skip
        raise
    host.record_event("schedule", inst.id, f"{s.task} ({s.id}): {result}",
                      schedule=s.id, task=s.task, result=result)  # fmt: skip
    return Outcome({"schedule": s.id, "instance_id": inst.id, "result": result},
                   (f"{inst.id}: {s.task}: {result}",))  # fmt: skip


def _run(host: Host, inst: Instance, s: Schedule) -> str:
    from ..apps import find_app
    from . import delayed

    warn = parse_since(s.warn, "--warn") if s.warn else 0.0
    if s.task == "backup":
        if s.to == "offsite":
            from .backup import backup_offsite

            return f"snapshot {backup_offsite(host, inst, s.keep)['snapshot']['short_id']}"
        from .backup import backup

        return f"backed up to {backup(host, inst, s.keep).file}"
    if s.task == "restart":
        return delayed.run(host, inst, "restart", warn)
    if s.task == "update":
        from .update import check_update

        if not check_update(host, inst):
            return "no update"
        if s.when_empty and delayed.players(host, inst, find_app(host.paths, inst.app)) != 0:
            return "skipped: players are online"
        return delayed.run(host, inst, "update", warn)
    from ..console import send

    reply = send(inst, find_app(host.paths, inst.app), s.text or "")
    return f"sent{': ' + reply.strip()[:200] if reply else ''}"


def remove_all(host: Host, inst: Instance) -> None:
    """An instance's timers, when it goes (delete)."""
    for s in inst.schedules:
        try:
            schedules.uninstall(host.paths, host.systemd, s)
        except WarlockError as e:
            sys.stderr.write(f"warning: schedule {s.id}: {e}\n")
