"""The panels' poll answered from the daemon's ready answers: the same rows as the live
path, and the live path whenever an answer cannot be trusted (stale, expired, someone
else's file, a changed record, an instance without one)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import ID_A, ID_B, World
from warlockd import answers
from warlockd.actions import Args
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.metrics import instance_metrics
from warlockd.actions.services import do_get_services
from warlockd.actions.start_stop import start, stop
from warlockd.cli import entry
from warlockd.cli import run as cli_run
from warlockd.config import Config
from warlockd.daemon.loop import Daemon
from warlockd.metrics import Sampler
from warlockd.model import Instance

ME = os.geteuid()  # who may own answers in these tests (root on a host)


@pytest.fixture
def daemon(world: World, tmp_path: Path) -> Daemon:
    world.paths.state.mkdir(parents=True, exist_ok=True)
    d = Daemon(world.host)
    d.run_dir.mkdir(exist_ok=True)
    d.config = Config(prometheus_dir=None)
    d.sampler = Sampler(cgroup_root=tmp_path / "cgroup")
    world.mem.watch("game@")
    return d


def _env(world: World) -> dict[str, str]:
    return {"WARLOCK_STATE_DIR": str(world.paths.state),
            "WARLOCK_RUNTIME_DIR": str(world.paths.runtime)}  # fmt: skip


def _sampled(world: World, daemon: Daemon, *names: str) -> list[Instance]:
    ids = (ID_A, ID_B)[: len(names)]
    made = [
        create(world.host, CreateRequest("example", n, i)) for n, i in zip(names, ids, strict=True)
    ]
    daemon.load_registry(first=True)
    start(world.host, made[0])
    for change in world.mem.changes():
        daemon.apply(change.unit, change.props)
    world.mem._set(made[0].unit, status_text="players 2/8: Alice, Bob")
    for change in world.mem.changes():
        daemon.apply(change.unit, change.props)
    daemon.sample(disk=False)
    return made


def _answer(world: World, *argv: str, **scope: str) -> dict[str, dict[str, object]] | None:
    text = answers.answer(list(argv), scope.get("instance"), scope.get("app"), ME, _env(world))
    return None if text is None else json.loads(text)


def test_get_services_from_the_answer_has_the_live_rows_keys_and_state(
    world: World, daemon: Daemon
) -> None:
    a, _ = _sampled(world, daemon, "alpha", "beta")
    cached = _answer(world, "--instance", a.id, "--get-services")
    assert cached is not None
    live = do_get_services(world.host, Args(instance=a.id)).data
    assert list(cached) == list(live) == [a.service]
    row, truth = cached[a.service], live[a.service]
    assert set(row) == set(truth) == set(answers.SERVICE_KEYS)
    same = {k for k in truth if k not in ("uptime", "player_count", "players", "max_players")}
    assert {k: row[k] for k in same} == {k: truth[k] for k in same}
    assert (row["player_count"], row["max_players"], row["players"]) == (2, 8, ["Alice", "Bob"])


def test_get_metrics_from_the_answer_is_the_cached_row_of_instance_metrics(
    world: World, daemon: Daemon
) -> None:
    a, _ = _sampled(world, daemon, "alpha", "beta")
    cached = _answer(world, "get-metrics", "--instance", a.id)
    assert cached is not None
    row = cached[a.service]
    assert row["source"] == "cache" and "live" not in row
    slow = instance_metrics(world.host, world.host.registry.get(a.id), daemon.ip)
    assert set(row) == set(slow)


def test_several_instances_need_an_answer_each_and_a_game_scope_takes_its_own(
    world: World, daemon: Daemon
) -> None:
    a, b = _sampled(world, daemon, "alpha", "beta")
    everything = _answer(world, "--get-services")
    assert everything is not None and list(everything) == sorted([a.service, b.service])
    assert _answer(world, "get-services", app=a.app) == everything  # one game: both
    assert _answer(world, "get-services", app="another-game") is None  # none of its own
    assert _answer(world, "--get-services", instance=b.id) is not None  # a registered path
    os.unlink(answers.path(str(world.paths.runtime), b.id))
    assert _answer(world, "--get-services") is None  # one missing: live for all


@pytest.mark.parametrize(
    "argv",
    [["--get-services", "--debug"], ["--instance", "../x", "--get-metrics"],
     ["--service", "game@x", "--get-services"], ["--get-services", "--get-metrics"],
     ["status"], []],
)  # fmt: skip
def test_anything_but_a_plain_poll_goes_the_usual_way(
    world: World, daemon: Daemon, argv: list[str]
) -> None:
    _sampled(world, daemon, "alpha", "beta")
    assert _answer(world, *argv) is None


def test_a_changed_record_an_expired_answer_or_a_stopped_unit_is_not_trusted(
    world: World, daemon: Daemon
) -> None:
    a, _ = _sampled(world, daemon, "alpha", "beta")
    assert _answer(world, "--instance", a.id, "--get-services") is not None
    world.host.registry.save(world.host.registry.get(a.id).with_(name="renamed"))
    assert _answer(world, "--instance", a.id, "--get-services") is None  # until the daemon rereads
    daemon.load_registry()
    daemon.sample(disk=False)
    again = _answer(world, "--instance", a.id, "--get-services")
    assert again is not None and again[a.service]["name"] == "renamed"
    stop(world.host, world.host.registry.get(a.id))  # the CLI forgets the answer it changed
    assert _answer(world, "--instance", a.id, "--get-services") is None
    runtime, state = str(world.paths.runtime), str(world.paths.state)
    assert answers.read(runtime, state, a.id, "services", ME, now=1e12) is None  # expired


def test_an_answer_someone_else_could_write_is_not_trusted(world: World, daemon: Daemon) -> None:
    a, _ = _sampled(world, daemon, "alpha", "beta")
    runtime, state = str(world.paths.runtime), str(world.paths.state)
    assert answers.read(runtime, state, a.id, "services", ME) is not None
    assert answers.read(runtime, state, a.id, "services", ME + 1) is None  # another's
    file = Path(answers.path(runtime, a.id))
    file.chmod(0o664)
    assert answers.read(runtime, state, a.id, "services", ME) is None  # group-writable
    file.chmod(0o644)
    (world.paths.runtime / answers.DIR).chmod(0o777)
    assert (
        answers.read(runtime, state, a.id, "services", ME) is None
    )  # a directory anyone writes into
    (world.paths.runtime / answers.DIR).chmod(0o755)
    real = file.with_name("real.answer")
    file.rename(real)
    file.symlink_to(real)
    assert answers.read(runtime, state, a.id, "services", ME) is None  # a link is not followed


def test_manage_py_prints_the_answer_without_making_a_host(
    world: World,
    daemon: Daemon,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, _ = _sampled(world, daemon, "alpha", "beta")
    for name, value in _env(world).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(answers, "read", _as_me(answers.read))

    def no_host() -> None:
        raise AssertionError("the live path was taken")

    monkeypatch.setattr(cli_run, "make_host", no_host)
    assert entry.main(["--instance", a.id, "--get-services"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[a.service]["instance_id"] == a.id and printed[a.service]["status"] == "running"
    assert "warlockd.answers" in sys.modules


def _as_me(read: Callable[..., Any]) -> Callable[..., Any]:
    """answers.read trusting this test's user, as the real one trusts root."""

    def mine(run_dir: str, state_dir: str, iid: str, what: str, owner: int, *rest: Any) -> Any:
        return read(run_dir, state_dir, iid, what, ME, *rest)

    return mine


def test_player_names_come_from_the_runners_status_line() -> None:
    from warlockd.metrics import player_names, players
    from warlockd.runner_probe import status_line

    line = status_line(3, 16, ["Alice", "Bob  Smith", "", "Carol\nX"])
    assert line == "players 3/16: Alice, Bob Smith, Carol X"
    assert players(line) == (3, 16) and player_names(line) == ["Alice", "Bob Smith", "Carol X"]
    assert status_line(0, 16, []) == "players 0/16" and player_names("players 0/16") is None
    assert len(status_line(99, 99, ["x" * 40] * 99)) < 330  # cut at a name, kept short
