"""Delayed stop, restart and update: players warned on the way, the action at once when
nobody plays, handed to a transient unit that a second call joins or replaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.support import ID_A, World
from warlockd.actions import Args, delayed
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.start_stop import start
from warlockd.apps import find_app
from warlockd.errors import InvalidInput
from warlockd.layout import data_dir
from warlockd.model import Instance
from warlockd.store import Store


class Clock:
    """A fake monotonic clock that sleep() moves."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
def inst(world: World) -> Instance:
    made = create(world.host, CreateRequest("example", "Delayed", ID_A))
    start(world.host, made)
    return made


@pytest.fixture
def console(inst: Instance) -> list[str]:
    """What reaches the game's console (its FIFO, read here as the runner would)."""
    fifo = data_dir(inst) / "console"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    lines: list[str] = []

    class Reader(list[str]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            try:
                data = os.read(fd, 65536).decode()
            except BlockingIOError:
                data = ""
            lines.extend(data.splitlines())
            return iter(list(lines))

    return Reader()


def _events(world: World) -> list[str]:
    store = Store(world.paths.database)
    try:
        return [e.message for e in store.events(0) if e.kind == "delayed"]
    finally:
        store.close()


def test_players_are_warned_at_5_minutes_1_minute_and_10_seconds(
    world: World, inst: Instance, console: list[str]
) -> None:
    clock = Clock()
    done = delayed.run(world.host, inst, "restart", 600, clock.sleep, clock.now, lambda: 3)
    assert done == "restarted"
    said = [line for line in console if line.startswith("say ")]
    assert said == [
        "say The server restarts in 10 minutes.",
        "say The server restarts in 5 minutes.",
        "say The server restarts in 1 minute.",
        "say The server restarts in 10 seconds.",
        "say The server restarts now.",
    ]
    assert "save" in list(console)  # the world saved before the restart
    assert clock.t - 1000.0 == pytest.approx(600, abs=1)
    assert world.mem.calls.count(("start", inst.unit)) == 2  # started, then restarted
    assert _events(world)[-1] == "restart: restarted"


def test_nobody_on_means_the_action_at_once(
    world: World, inst: Instance, console: list[str]
) -> None:
    clock = Clock()
    assert (
        delayed.run(world.host, inst, "stop", 300, clock.sleep, clock.now, lambda: 0) == "stopped"
    )
    assert clock.slept == [] and not [c for c in console if c.startswith("say")]
    assert world.mem.units[inst.unit].active == "inactive"
    assert "nobody plays: stop now" in _events(world)


def test_when_the_players_leave_it_does_not_wait_for_the_rest(
    world: World, inst: Instance, console: list[str]
) -> None:
    clock = Clock()
    online = iter([2, 2, 0])
    delayed.run(world.host, inst, "restart", 300, clock.sleep, clock.now, lambda: next(online))
    assert clock.t - 1000.0 < 300


def test_the_command_hands_the_wait_to_a_transient_unit_that_a_second_joins_or_replaces(
    world: World, inst: Instance
) -> None:
    first = delayed.do_delayed_restart(world.host, Args(instance=ID_A, warn="2m")).data
    unit = f"warlock-delayed-{ID_A}.service"
    assert (first["unit"], first["scheduled"], first["warn"]) == (unit, "scheduled", 120)
    argv, env, _ = world.mem.transient[unit]
    assert argv[-3:] == [ID_A, "restart", "120"] and env["WARLOCK_STATE_DIR"]
    again = delayed.do_delayed_restart(world.host, Args(instance=ID_A)).data
    assert again["scheduled"] == "joined" and ("stop", unit) not in world.mem.calls
    other = delayed.do_delayed_stop(world.host, Args(instance=ID_A)).data
    assert other["scheduled"] == "replaced the one under way"
    assert ("stop", unit) in world.mem.calls and world.mem.transient[unit][0][-2] == "stop"


def test_a_delayed_update_without_an_update_does_nothing(world: World, inst: Instance) -> None:
    out = delayed.do_delayed_update(world.host, Args(instance=ID_A))  # bundled: none
    assert out.data["scheduled"] is False and "nothing to do" in out.notes[0]
    assert world.mem.transient == {}


@pytest.mark.parametrize("warn", ["soon", "2h", "-1m"])
def test_a_bad_warning_time_is_refused(world: World, inst: Instance, warn: str) -> None:
    with pytest.raises(InvalidInput, match="--warn"):
        delayed.do_delayed_restart(world.host, Args(instance=ID_A, warn=warn))
    assert world.mem.transient == {}


def test_a_game_without_a_say_command_is_restarted_without_warnings(
    world: World, inst: Instance, tmp_path: Path
) -> None:
    app = find_app(world.host.paths, inst.app)
    quiet = app._replace(console=app.console._replace(say=None))
    assert delayed.say(world.host, inst, quiet, "hello") is False
