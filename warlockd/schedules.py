"""Schedules as systemd timers, never a cron or a loop of our own: one instance of the
templates `warlock-schedule@.timer` and `warlock-schedule@.service` (units/) per schedule,
named after its task and id (`warlock-schedule@backup-3f2a9c1d.timer`, so `systemctl
list-timers 'warlock-*'` says what each does), with a drop-in for its calendar.

The timer's service runs `warlock schedule-run <task>-<id>`; `Persistent=` runs a job the
host slept through when it wakes, `RandomizedDelaySec=` spreads fifty backups at 05:00. A
calendar expression is checked by systemd's own parser (`systemd-analyze calendar`)
before anything is written. The schedules themselves live in their instance's record, so
they go with it when it is deleted and travel in its pack.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from . import fsutil
from .errors import InvalidInput, NotFound, WarlockError
from .model import Instance, Schedule
from .paths import Paths
from .run import run
from .systemd import Systemd

TEMPLATE = "warlock-schedule@"
DROPIN = "50-warlock.conf"


def base(s: Schedule) -> str:
    return f"{TEMPLATE}{s.task}-{s.id}"


def timer(s: Schedule) -> str:
    return base(s) + ".timer"


def new_id() -> str:
    return os.urandom(4).hex()


def check_calendar(expression: str) -> str:
    """The expression as systemd normalises it; refused (with systemd's reason) when
    systemd's own parser does not take it."""
    if not expression.strip() or not expression.isprintable():
        raise InvalidInput("--on-calendar: expected a calendar expression, e.g. '*-*-* 05:00'")
    try:
        out = run(["systemd-analyze", "calendar", "--", expression], timeout=10)
    except WarlockError as e:
        raise InvalidInput(
            f"--on-calendar {expression!r}: systemd does not take it ({e.message})",
            hint="see `man systemd.time`: e.g. hourly, 'Mon 06:00', '*-*-* 05:00', '*:0/30'",
        ) from None
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "Normalized form":
            return value.strip()
    return expression


def render_dropin(inst: Instance, s: Schedule) -> str:
    what = {"backup": "back up", "restart": "restart", "update": "update",
            "command": "send a command to"}[s.task]  # fmt: skip
    # %% : the description goes through systemd's specifier expansion
    name = inst.name.replace("%", "%%")
    return (
        f"# Written by warlockd for schedule {s.id} of instance {inst.id}.\n"
        "[Unit]\n"
        f"Description=warlockd: {what} {name} ({inst.id}) at {s.on_calendar}\n"
        "[Timer]\n"
        f"OnCalendar={s.on_calendar}\n"
        f"RandomizedDelaySec={s.randomized_delay}\n"
        # systemd's default (1min) would move a restart players were told is at 06:00
        "AccuracySec=1s\n"
    )


def dropin_path(paths: Paths, s: Schedule) -> Path:
    return paths.dropin_dir(timer(s)) / DROPIN


def templates(paths: Paths, package_root: Path) -> dict[Path, str]:
    """The two templates as a checkout installs them: the job runs its manage.py (the
    Debian package ships them itself, running /usr/bin/warlock)."""
    job = (paths.templates / f"{TEMPLATE}.service").read_text()
    return {
        paths.units / f"{TEMPLATE}.timer": (paths.templates / f"{TEMPLATE}.timer").read_text(),
        paths.units / f"{TEMPLATE}.service": job.replace(
            "ExecStart=/usr/bin/warlock ", f"ExecStart={package_root}/manage.py "
        ),
    }


def install(paths: Paths, systemd: Systemd, inst: Instance, s: Schedule) -> None:
    """Write the timer's drop-in and (unless paused) enable and start it; the templates
    too when neither the package nor `setup` has."""
    if not installed_template(paths):
        from .paths import PACKAGE_ROOT

        for path, text in templates(paths, PACKAGE_ROOT).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.atomic_write(path, text, 0o644)
    d = dropin_path(paths, s)
    d.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(d, render_dropin(inst, s), 0o644)
    systemd.reload()
    if not s.paused:
        systemd.enable([timer(s)])
        systemd.start(timer(s), 30)


def pause(systemd: Systemd, s: Schedule) -> None:
    systemd.stop(timer(s), 30)
    systemd.disable([timer(s)])


def resume(systemd: Systemd, s: Schedule) -> None:
    systemd.enable([timer(s)])
    systemd.start(timer(s), 30)


def uninstall(paths: Paths, systemd: Systemd, s: Schedule) -> None:
    """Stop and disable the timer and remove its drop-in (one reload is the caller's)."""
    with contextlib.suppress(WarlockError):  # not loaded, or gone already
        pause(systemd, s)
    d = dropin_path(paths, s)
    fsutil.remove(d)
    with contextlib.suppress(OSError):  # not empty: the admin's own drop-ins stay
        d.parent.rmdir()


def find(instances: list[Instance], given: str) -> tuple[Instance, Schedule]:
    """A schedule by its id, or by `<task>-<id>` as its unit names it."""
    sid = given.rsplit("-", 1)[-1]
    for inst in instances:
        for s in inst.schedules:
            if s.id == sid:
                return inst, s
    raise NotFound(f"no schedule {given!r}", hint="`manage.py schedule list` shows them")


def installed_template(paths: Paths) -> bool:
    return any((d / f"{TEMPLATE}.timer").exists()
               for d in (paths.units, Path("/lib/systemd/system")))  # fmt: skip
