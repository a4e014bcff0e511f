"""Schedules: a task of an instance on a systemd calendar, as a timer with a drop-in; the
record keeps them; a refused schedule leaves nothing behind; runs are events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B, World
from warlockd import archives, schedules
from warlockd.actions import Args
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.delete import delete
from warlockd.actions.pack import import_pack, pack
from warlockd.actions.schedule import (
    do_schedule_add,
    do_schedule_list,
    do_schedule_pause,
    do_schedule_remove,
    do_schedule_resume,
    do_schedule_run,
)
from warlockd.cli.run import parse_args
from warlockd.errors import InvalidInput, NotFound, WarlockError
from warlockd.layout import data_dir
from warlockd.model import Instance, Schedule
from warlockd.store import Store
from warlockd.systemd import TimerState


@pytest.fixture
def inst(world: World) -> Instance:
    made = create(world.host, CreateRequest("example", "Timed", ID_A))
    (data_dir(made) / "world.json").write_text('{"tick": 1}')
    return made


def _add(world: World, *task: str, **options: object) -> dict[str, object]:
    args = Args(instance=ID_A, task=list(task), on_calendar="*-*-* 05:00", **options)  # type: ignore[arg-type]
    return do_schedule_add(world.host, args).data  # type: ignore[no-any-return]


def _record(world: World) -> Instance:
    return world.host.registry.get(ID_A)


def test_a_schedule_is_a_timer_with_its_calendar_in_a_drop_in(world: World, inst: Instance) -> None:
    row = _add(world, "backup", max_backups=3, randomized_delay="15m")
    timer = f"warlock-schedule@backup-{row['id']}.timer"
    assert row["timer"] == timer and row["on_calendar"] == "*-*-* 05:00:00"  # systemd's form
    dropin = world.paths.units / f"{timer}.d" / "50-warlock.conf"
    text = dropin.read_text()
    assert "OnCalendar=*-*-* 05:00:00\n" in text and "RandomizedDelaySec=900\n" in text
    assert "Description=warlockd: back up Timed" in text
    assert timer in world.mem.enabled and world.mem.units[timer].active == "active"
    (s,) = _record(world).schedules
    assert (s.task, s.keep, s.randomized_delay, s.paused) == ("backup", 3, 900, False)


def test_a_percent_in_the_name_is_not_a_systemd_specifier(world: World) -> None:
    made = create(world.host, CreateRequest("example", "100% uptime", ID_A))
    s = Schedule("0a1b2c3d", "restart", "hourly")
    assert "restart 100%% uptime" in schedules.render_dropin(made, s)


@pytest.mark.parametrize(
    "task, options, message",
    [
        (["backup"], {"on_calendar": "whenever"}, "systemd does not take it"),
        (["backup"], {"on_calendar": "05:00\nExecStart=/bin/sh"}, "calendar expression"),
        (["reboot"], {}, "unknown task"),
        (["command"], {}, "needs the console command"),
        (["backup", "now"], {}, "only the command task takes text"),
        (["command", "say\x1bhi"], {}, "printable"),
        (["restart"], {"max_backups": 2}, "--keep"),
        (["backup"], {"max_backups": 0}, "--keep"),
        (["restart"], {"warn": "2h"}, "up to 1h"),
        (["restart"], {"warn": "1d"}, "up to 1h"),
        (["backup"], {"warn": "5m"}, "--warn is for"),
        (["backup"], {"when_empty": True}, "--when-empty is for"),
        (["restart"], {"to": "offsite"}, "--to is for"),
        (["backup"], {"randomized_delay": "2d"}, "at most 1d"),
        ([], {}, "needs a task"),
    ],
)
def test_a_refused_schedule_changes_nothing(
    world: World, inst: Instance, task: list[str], options: dict[str, object], message: str
) -> None:
    before = world.snapshot()
    args = Args(instance=ID_A, task=task, **({"on_calendar": "hourly"} | options))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=message):
        do_schedule_add(world.host, args)
    assert world.snapshot() == before


def test_a_schedule_for_an_unknown_instance_is_refused(world: World, inst: Instance) -> None:
    with pytest.raises(NotFound):
        do_schedule_add(world.host, Args(instance=ID_B, task=["backup"], on_calendar="hourly"))
    assert not (world.paths.units).exists() or not list(
        world.paths.units.glob("warlock-schedule@*")
    )


def test_pause_keeps_the_schedule_and_resume_starts_its_timer_again(
    world: World, inst: Instance
) -> None:
    sid = str(_add(world, "restart", warn="5m")["id"])
    timer = f"warlock-schedule@restart-{sid}.timer"
    do_schedule_pause(world.host, Args(schedule=sid))
    assert timer not in world.mem.enabled and world.mem.units[timer].active == "inactive"
    assert _record(world).schedules[0].paused
    (row,) = do_schedule_list(world.host, Args()).data
    assert row["paused"] is True and row["next_run"] is None
    do_schedule_resume(world.host, Args(schedule=f"restart-{sid}"))  # as the unit names it
    assert timer in world.mem.enabled and world.mem.units[timer].active == "active"
    assert not _record(world).schedules[0].paused


def test_remove_takes_the_timer_and_its_drop_in(world: World, inst: Instance) -> None:
    sid = str(_add(world, "command", "say hello")["id"])
    keep = str(_add(world, "backup")["id"])
    do_schedule_remove(world.host, Args(schedule=sid))
    assert [s.id for s in _record(world).schedules] == [keep]
    assert not (world.paths.units / f"warlock-schedule@command-{sid}.timer.d").exists()
    assert f"warlock-schedule@command-{sid}.timer" not in world.mem.enabled
    with pytest.raises(NotFound):
        do_schedule_remove(world.host, Args(schedule=sid))


def test_list_shows_the_next_run_from_systemd_and_the_last_from_the_events(
    world: World, inst: Instance
) -> None:
    sid = str(_add(world, "backup", max_backups=1)["id"])
    timer = f"warlock-schedule@backup-{sid}.timer"
    world.mem.timer_states[timer] = TimerState(timer, "active", 1_900_000_000.0)
    do_schedule_run(world.host, Args(schedule=sid))
    (row,) = do_schedule_list(world.host, Args(instance=ID_A)).data
    assert row["next_run"].startswith("2030-03-17T")
    assert row["last_run"] is not None and str(row["last_result"]).startswith("backed up to ")


def test_a_backup_run_keeps_the_newest_n(world: World, inst: Instance) -> None:
    sid = str(_add(world, "backup", max_backups=2)["id"])
    for _ in range(3):
        do_schedule_run(world.host, Args(schedule=sid))
    assert len(archives.existing(_record(world))) == 2


def test_a_failed_run_is_an_event_and_a_failed_job(world: World, inst: Instance) -> None:
    sid = str(_add(world, "command", "say hi")["id"])  # the game is not running: no console
    with pytest.raises(WarlockError):
        do_schedule_run(world.host, Args(schedule=sid))
    store = Store(world.paths.database)
    try:
        (ev,) = [e for e in store.events(0) if e.kind == "schedule"]
    finally:
        store.close()
    assert ev.data["result"] == "failed" and ev.data["schedule"] == sid


def test_a_command_run_reaches_the_console(world: World, inst: Instance) -> None:
    sid = str(_add(world, "command", "say", "Vote", "now!")["id"])
    fifo = data_dir(inst) / "console"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        do_schedule_run(world.host, Args(schedule=sid))
        assert os.read(fd, 4096).decode().splitlines() == ["say Vote now!"]
    finally:
        os.close(fd)


def test_an_update_run_without_an_update_does_nothing(world: World, inst: Instance) -> None:
    sid = str(_add(world, "update", when_empty=True)["id"])
    before = list(world.mem.calls)
    assert do_schedule_run(world.host, Args(schedule=sid)).data["result"] == "no update"
    assert [c for c in world.mem.calls[len(before) :] if c[0] in ("start", "stop")] == []


def test_deleting_the_instance_removes_its_timers(world: World, inst: Instance) -> None:
    sid = str(_add(world, "backup")["id"])
    delete(world.host, _record(world), purge=False)
    assert not list(world.paths.units.glob("warlock-schedule@[!.]*"))  # the templates stay
    assert f"warlock-schedule@backup-{sid}.timer" not in world.mem.enabled


def test_a_pack_carries_its_schedules_which_get_new_ids(
    world: World, inst: Instance, tmp_path: Path
) -> None:
    old = str(_add(world, "restart", warn="10m")["id"])
    do_schedule_pause(world.host, Args(schedule=old))
    made = import_pack(world.host, str(pack(world.host, _record(world))["file"]), name="Moved")
    (s,) = world.host.registry.get(made.id).schedules
    assert s.id != old and (s.task, s.warn, s.paused) == ("restart", "10m", True)
    assert (world.paths.units / f"{schedules.timer(s)}.d" / "50-warlock.conf").exists()
    assert schedules.timer(s) not in world.mem.enabled  # it came paused, it stays paused


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "../../x", "task": "backup", "on_calendar": "hourly"},
        {"id": "0a1b2c3d", "task": "rm", "on_calendar": "hourly"},
        {"id": "0a1b2c3d", "task": "backup", "on_calendar": "hourly\nExecStart=x"},
        {"id": "0a1b2c3d", "task": "command", "on_calendar": "hourly", "text": "a\nb"},
        {"id": "0a1b2c3d", "task": "backup", "on_calendar": "hourly", "keep": 0},
        {"id": "0a1b2c3d", "task": "backup", "on_calendar": "hourly", "extra": 1},
    ],
)
def test_a_record_or_pack_with_a_bad_schedule_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Schedule.from_dict(bad)


def test_a_command_task_in_one_flag_value_is_split_into_words() -> None:
    args = parse_args({"task": "command say  hi", "on_calendar": "hourly"})
    assert args.task == ["command", "say  hi"]  # the console command as typed
    assert parse_args({"task": "backup"}).task == ["backup"]
