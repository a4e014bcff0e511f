"""warlockd.service's work, one step at a time (never run(): it loops), over a World."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, ID_C, World
from warlockd import cache
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.delete import delete
from warlockd.actions.metrics import instance_metrics
from warlockd.actions.start_stop import start
from warlockd.config import Config
from warlockd.daemon.backend import DaemonBackend
from warlockd.daemon.loop import Daemon
from warlockd.errors import NotFound
from warlockd.metrics import Sampler
from warlockd.model import Instance, InstanceId
from warlockd.store import Event, Store


def _cgroup(root: Path, inst: Instance, memory: int, usec: int, tasks: int) -> None:
    d = root / "system.slice" / "system-game.slice" / inst.unit
    d.mkdir(parents=True, exist_ok=True)
    (root / "system.slice" / "memory.current").write_text(f"{memory}\n")  # v2 counts here too
    (d / "memory.current").write_text(f"{memory}\n")
    (d / "cpu.stat").write_text(f"usage_usec {usec}\n")
    (d / "pids.current").write_text(f"{tasks}\n")


def _make(world: World, tmp_path: Path) -> Daemon:
    d = Daemon(world.host)  # its configuration file and cache under the World's root
    d.run_dir.mkdir(exist_ok=True)
    d.config = Config(prometheus_dir=None)  # nothing written outside tmp_path
    d.sampler = Sampler(cgroup_root=tmp_path / "cgroup")
    return d


@pytest.fixture
def daemon(world: World, tmp_path: Path) -> Iterator[Daemon]:
    world.paths.state.mkdir(parents=True, exist_ok=True)
    d = _make(world, tmp_path)
    d.open_store()
    assert d.store is not None
    world.mem.watch("game@")  # MemorySystemd records changes from now on, as systemd signals
    yield d
    if d.store is not None:
        d.store.close()


def _create(world: World, name: str = "alpha", instance_id: InstanceId = ID_A) -> Instance:
    return create(world.host, CreateRequest(app="example", name=name, instance_id=instance_id))


def _pump(world: World, daemon: Daemon) -> None:
    """One turn of the daemon's loop over what systemd signalled."""
    for change in world.mem.changes():
        daemon.apply(change.unit, change.props)


def _events(daemon: Daemon, inst: Instance | None = None) -> list[tuple[str, str]]:
    assert daemon.store is not None
    found = daemon.store.events(0, instance_id=inst.id if inst else None)
    return [(e.kind, e.message) for e in found]


def _running(world: World, daemon: Daemon) -> Instance:
    inst = _create(world)
    daemon.load_registry(first=True)
    start(world.host, inst)
    _pump(world, daemon)
    return inst


def _fail(world: World, inst: Instance) -> None:
    world.mem._set(inst.unit, active="failed", sub="failed", result="exit-code", main_pid=0)


# -- configuration and watching -------------------------------------------------------------


def test_a_missing_config_file_means_the_defaults(world: World, tmp_path: Path) -> None:
    d = _make(world, tmp_path)
    d.config = Config(interval=99)
    d.reload_config()
    try:
        assert d.config == Config()
        assert d.dispatcher is not None
    finally:
        d.dispatcher.stop(1.0)


def test_a_started_instance_gives_a_started_event(world: World, daemon: Daemon) -> None:
    inst = _create(world)
    daemon.load_registry(first=True)
    assert _events(daemon) == []  # stopped, as it was
    start(world.host, inst)
    _pump(world, daemon)
    assert _events(daemon, inst) == [("started", "running")]
    assert daemon.status_line() == "1 instances: 1 running"


def test_an_instance_created_and_started_after_the_daemon_started_is_picked_up(
    world: World, daemon: Daemon
) -> None:
    daemon.load_registry(first=True)
    assert daemon.tracked == {}
    inst = _create(world)
    start(world.host, inst)
    _pump(world, daemon)
    assert set(daemon.tracked) == {inst.id}
    assert _events(daemon, inst) == [("started", "running")]


def test_new_instances_are_picked_up_with_one_listing_and_reads_of_loaded_units_only(
    world: World, daemon: Daemon
) -> None:
    made = [_create(world, f"n{i}", iid) for i, iid in enumerate((ID_A, ID_B, ID_C))]
    start(world.host, made[0])
    world.mem.units[made[0].unit] = world.mem.units[made[0].unit]._replace(restarts=2)
    calls = len(world.mem.calls)
    daemon.load_registry(first=True)
    ops = [(op, arg) for op, arg in world.mem.calls[calls:] if op != "reset_failed"]
    # one round trip for all; the loaded unit read without LoadUnit; the others not loaded
    assert ops == [("states", "game@*.service"), ("watched", made[0].unit)]
    assert daemon.tracked[ID_A].live.restarts == 2
    assert {i: t.live.status for i, t in daemon.tracked.items()} == {
        ID_A: "running",
        ID_B: "stopped",
        ID_C: "stopped",
    }


def test_a_crash_systemd_restarts_gives_crashed_restarted_then_started(
    world: World, daemon: Daemon
) -> None:
    inst = _running(world, daemon)
    world.mem.crash(inst.unit)
    _pump(world, daemon)
    world.mem.enqueue_start(inst.unit)
    _pump(world, daemon)
    assert [k for k, _ in _events(daemon, inst)] == ["started", "crashed", "restarted", "started"]
    assert daemon.store is not None
    crashed = daemon.store.events(0, kinds=["crashed"])[0]
    assert crashed.message == "exited with an error"
    assert crashed.data == {"result": "exit-code", "restarts": 1}
    assert daemon.tracked[inst.id].failed_at is None


def test_a_lasting_failure_is_retried_later_and_each_retry_waits_longer(
    world: World, daemon: Daemon
) -> None:
    inst = _running(world, daemon)
    t = daemon.tracked[inst.id]
    _fail(world, inst)
    _pump(world, daemon)
    assert _events(daemon, inst)[-1] == ("crashed", "exited with an error")
    assert t.failed_at is not None

    daemon.retry_crashed()  # failed for less than a second: maybe on its way back
    assert t.retry_at is None

    t.failed_at = time.monotonic() - 2
    daemon.retry_crashed()
    assert _events(daemon, inst)[-1] == ("crashed", "crash loop: retrying in 60 s")
    assert t.retry_at is not None and t.retry_at > time.monotonic() + 50
    calls = len(world.mem.calls)
    daemon.retry_crashed()  # not yet
    assert world.mem.calls[calls:] == []

    t.retry_at = time.monotonic() - 1
    daemon.retry_crashed()
    assert world.mem.calls[calls:] == [("reset_failed", inst.unit), ("start", inst.unit)]
    assert _events(daemon, inst)[-1] == ("restarted", "retry 1 after a crash loop")
    assert (t.retries, t.retry_at, t.failed_at) == (1, None, None)
    _pump(world, daemon)
    assert _events(daemon, inst)[-1] == ("started", "running")

    _fail(world, inst)
    _pump(world, daemon)
    t.failed_at = time.monotonic() - 2
    daemon.retry_crashed()
    assert _events(daemon, inst)[-1] == ("crashed", "crash loop: retrying in 120 s")
    assert daemon.store is not None
    assert daemon.store.events(0, kinds=["crashed"])[-1].data == {"retry": 2}


def test_a_retry_whose_start_fails_says_so_and_waits_longer_next_time(
    world: World, daemon: Daemon
) -> None:
    inst = _running(world, daemon)
    t = daemon.tracked[inst.id]
    _fail(world, inst)
    _pump(world, daemon)
    t.failed_at = time.monotonic() - 2
    daemon.retry_crashed()
    world.mem.failing.add(inst.unit)
    t.retry_at = time.monotonic() - 1
    daemon.retry_crashed()
    kind, message = _events(daemon, inst)[-1]
    assert kind == "crashed" and message.startswith("retry 1 failed: ")
    _pump(world, daemon)  # reset, then failed again
    assert t.failed_at is not None
    t.failed_at = time.monotonic() - 2
    daemon.retry_crashed()
    assert _events(daemon, inst)[-1] == ("crashed", "crash loop: retrying in 120 s")


def test_a_failure_that_turns_into_an_automatic_restart_schedules_nothing(
    world: World, daemon: Daemon
) -> None:
    inst = _running(world, daemon)
    t = daemon.tracked[inst.id]
    _fail(world, inst)
    _pump(world, daemon)
    world.mem.crash(inst.unit)  # systemd's Restart= takes over within the second
    _pump(world, daemon)
    assert t.failed_at is None
    calls = len(world.mem.calls)
    daemon.retry_crashed()
    assert t.retry_at is None
    assert world.mem.calls[calls:] == []
    assert not any("crash loop" in m for _, m in _events(daemon, inst))


def test_a_scheduled_retry_is_dropped_when_someone_resets_the_unit(
    world: World, daemon: Daemon
) -> None:
    inst = _running(world, daemon)
    t = daemon.tracked[inst.id]
    _fail(world, inst)
    _pump(world, daemon)
    t.failed_at = time.monotonic() - 2
    daemon.retry_crashed()
    assert t.retry_at is not None
    world.mem.reset_failed(inst.unit)  # the admin gave up on it
    _pump(world, daemon)
    calls = len(world.mem.calls)
    daemon.retry_crashed()
    assert t.retry_at is None
    assert world.mem.calls[calls:] == []


def test_a_corrupt_record_is_skipped_with_one_daemon_event_and_others_are_tracked(
    world: World, daemon: Daemon
) -> None:
    inst = _create(world)
    (world.paths.state / f"{EXAMPLE_GUID}.{ID_B}.toml").write_text("id = [not toml\n")
    daemon.load_registry(first=True)
    assert set(daemon.tracked) == {inst.id}
    assert daemon.store is not None
    (ev,) = daemon.store.events(0)
    assert (ev.kind, ev.instance_id) == ("daemon", None)
    assert ev.message.startswith(f"skipped {EXAMPLE_GUID}.{ID_B}.toml: ")
    daemon.load_registry()  # later looks do not repeat it every 10 s
    assert len(daemon.store.events(0)) == 1


def test_a_deleted_instance_is_no_longer_tracked(world: World, daemon: Daemon) -> None:
    inst = _running(world, daemon)
    delete(world.host, inst, purge=False)
    _pump(world, daemon)
    daemon.load_registry()
    assert daemon.tracked == {}
    assert _events(daemon, inst)[-1] == ("stopped", "stopped")


def test_what_happened_while_the_daemon_was_down_is_reported_on_start_up(
    world: World, daemon: Daemon, tmp_path: Path
) -> None:
    inst = _running(world, daemon)
    daemon.sample(disk=False)  # leaves its last view in the cache
    world.mem.crash(inst.unit)  # ... then the daemon stops, and the game crashes
    world.mem.enqueue_start(inst.unit)
    later = _make(world, tmp_path)
    later.store = daemon.store
    later.load_registry(first=True)
    assert _events(daemon, inst)[1:] == [
        ("crashed", "stopped unexpectedly (the cause was not seen) (while warlockd was down)"),
        ("restarted", "restarted by systemd (restart 1) (while warlockd was down)"),
    ]


# -- sampling -------------------------------------------------------------------------------


def test_sampling_writes_the_cache_and_the_history(
    world: World, daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = _running(world, daemon)
    idle = _create(world, "beta", ID_B)
    _cgroup(tmp_path / "cgroup", inst, memory=300 << 20, usec=1_000_000, tasks=5)
    world.mem._set(inst.unit, status_text="players 2/8")
    _pump(world, daemon)
    daemon.load_registry()  # as each sampling round does: picks up beta

    daemon.sample(disk=True)
    data = cache.read(daemon.run_dir, cache.key("services", inst.app, daemon.ip, inst.id))
    assert data is not None
    assert (data["status"], data["player_count"], data["max_players"]) == ("running", 2, 8)
    assert (data["memory_bytes"], data["tasks"], data["cpu_percent"]) == (300 << 20, 5, None)
    assert data["memory_usage"] == "300 MB" and data["cpu_usage"] == "N/A"
    assert data["disk_bytes"] is not None and data["disk_bytes"] >= 0
    assert data["live"]["status_text"] == "players 2/8"
    assert data["instance_id"] == inst.id and data["app"] == "example"
    assert daemon.tracked[inst.id].last == data

    assert daemon.store is not None
    (row,) = daemon.store.metrics(inst.id, 0)
    assert (row.status, row.players, row.max_players, row.memory_bytes, row.tasks) == (
        "running",
        2,
        8,
        300 << 20,
        5,
    )
    (stopped,) = daemon.store.metrics(idle.id, 0)
    assert (stopped.status, stopped.memory_bytes, stopped.players) == ("stopped", None, None)

    # the CLI reads what the daemon wrote, rather than asking systemd and the kernel
    assert daemon.run_dir == world.paths.runtime
    seen = instance_metrics(world.host, inst, daemon.ip)
    assert seen["source"] == "cache" and "live" not in seen
    assert seen["player_count"] == 2


def test_a_changed_unit_is_sampled_again_alone_and_the_textfile_keeps_the_others(
    world: World, daemon: Daemon, tmp_path: Path
) -> None:
    inst = _running(world, daemon)
    idle = _create(world, "beta", ID_B)
    daemon.load_registry()
    daemon.config = Config(prometheus_dir=tmp_path / "textfiles")
    (tmp_path / "textfiles").mkdir()
    daemon.sample(disk=False)
    world.mem._set(inst.unit, status_text="players 4/8")
    _pump(world, daemon)
    daemon.sample(disk=False, only={inst.id, ID_C})  # what the loop does a second later
    assert daemon.store is not None
    assert [r.players for r in daemon.store.metrics(inst.id, 0)] == [None, 4]
    assert len(daemon.store.metrics(idle.id, 0)) == 1  # not sampled again
    text = (tmp_path / "textfiles" / "warlockd.prom").read_text()
    up = [ln.split('"')[1] for ln in text.splitlines() if ln.startswith("warlock_instance_up{")]
    assert up == sorted([inst.id, idle.id])  # the one sampled anew, and the other's last row
    assert daemon.last_samples[inst.id].players == 4 and set(daemon.last_samples) == {
        inst.id, idle.id}  # fmt: skip
    delete(world.host, idle, purge=True)
    daemon.load_registry()
    daemon.sample(disk=False, only={inst.id})
    assert f'instance_id="{idle.id}"' not in (tmp_path / "textfiles" / "warlockd.prom").read_text()


def test_the_second_sample_has_cpu_from_the_cgroup_counter(
    world: World, daemon: Daemon, tmp_path: Path
) -> None:
    inst = _running(world, daemon)
    _cgroup(tmp_path / "cgroup", inst, memory=1 << 20, usec=1_000_000, tasks=1)
    daemon.sample(disk=False)
    time.sleep(0.05)
    _cgroup(tmp_path / "cgroup", inst, memory=1 << 20, usec=1_020_000, tasks=1)
    daemon.sample(disk=False)
    assert daemon.store is not None
    rows = daemon.store.metrics(inst.id, 0)
    assert [r.cpu_percent is None for r in rows] == [True, False]
    assert rows[1].cpu_percent is not None and rows[1].cpu_percent > 0
    assert rows[1].disk_bytes is None  # no disk pass yet


# -- the event sinks ------------------------------------------------------------------------


def test_events_reach_the_store_without_a_webhook_dispatcher(world: World, daemon: Daemon) -> None:
    inst = _create(world)
    daemon.load_registry(first=True)
    assert daemon.dispatcher is None and daemon.api is None
    daemon.event("backup", inst, "saved world.json", file="world.json")
    assert daemon.store is not None
    (ev,) = daemon.store.events(0)
    assert (ev.kind, ev.instance_id, ev.message, ev.data) == (
        "backup",
        inst.id,
        "saved world.json",
        {"file": "world.json"},
    )


def test_a_store_that_fails_is_reported_once_and_watching_goes_on(
    world: World, daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    inst = _create(world)
    daemon.load_registry(first=True)
    assert daemon.store is not None
    daemon.store.close()  # every write now fails with a StoreError
    capsys.readouterr()
    daemon.event("backup", inst, "one")
    daemon.event("backup", inst, "two")
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1
    assert f"{inst.id}: backup: one" in err and f"{inst.id}: backup: two" in err
    daemon.sample(disk=False)  # another problem: reported once too
    assert capsys.readouterr().err.count("warning: ") == 1
    daemon.sample(disk=False)
    daemon.event("backup", inst, "three")  # alternating problems: each still said once
    daemon.sample(disk=False)
    assert "warning: " not in capsys.readouterr().err


def test_a_store_that_works_again_says_so_once_and_its_problems_are_reported_anew(
    world: World, daemon: Daemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inst = _create(world)
    daemon.load_registry(first=True)
    assert daemon.store is not None
    good = daemon.store
    daemon.store = Store(tmp_path / "other.db")
    daemon.store.close()
    daemon.sample(disk=False)
    assert capsys.readouterr().err.count("warning: ") == 1
    daemon.store = good  # room again
    daemon.sample(disk=False)
    daemon.sample(disk=False)
    assert capsys.readouterr().err.count("the database is written again") == 1
    daemon.store.close()
    daemon.event("backup", inst, "lost")
    assert capsys.readouterr().err.count("warning: ") == 1  # a new episode is reported


def test_a_store_that_cannot_open_leaves_the_daemon_without_history(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _make(world, tmp_path)  # the state directory does not exist
    d.open_store()
    assert d.store is None
    assert "warning: " in capsys.readouterr().err
    d.event("daemon", None, "still here")
    assert "warlockd: daemon: still here" in capsys.readouterr().err


# -- what the D-Bus API answers -------------------------------------------------------------


def test_the_backend_lists_instances_with_their_status(world: World, daemon: Daemon) -> None:
    a = _running(world, daemon)
    b = _create(world, "beta", ID_B)
    daemon.load_registry()
    backend = DaemonBackend(daemon)
    assert sorted(backend.list_instances()) == [
        (a.id, "alpha", "example", "running", a.unit),
        (b.id, "beta", "example", "stopped", b.unit),
    ]


def test_the_backend_gives_an_instance_without_its_secrets(world: World, daemon: Daemon) -> None:
    inst = _create(world)
    world.host.registry.save(inst.with_(secrets={"rcon_password": "s3cretPassw0rd"}))
    daemon.load_registry(first=True)
    text = DaemonBackend(daemon).get_instance(inst.id)
    assert "s3cretPassw0rd" not in text
    data = json.loads(text)
    assert data["secrets"] == ["rcon_password"]  # which secrets exist, never their values
    assert (data["id"], data["name"], data["status"]) == (inst.id, "alpha", "stopped")
    assert data["ports"] == inst.ports


def test_the_backend_gives_the_last_sample(world: World, daemon: Daemon, tmp_path: Path) -> None:
    inst = _running(world, daemon)
    backend = DaemonBackend(daemon)
    first = json.loads(backend.get_metrics(inst.id))  # not sampled yet: the shape, no figures
    assert first["status"] == "running" and first["memory_bytes"] is None
    _cgroup(tmp_path / "cgroup", inst, memory=2 << 20, usec=0, tasks=3)
    daemon.sample(disk=False)
    metrics = json.loads(backend.get_metrics(inst.id))
    assert (metrics["status"], metrics["memory_bytes"], metrics["tasks"]) == (
        "running",
        2 << 20,
        3,
    )


def test_the_backend_refuses_unknown_ids(world: World, daemon: Daemon) -> None:
    _create(world)
    daemon.load_registry(first=True)
    backend = DaemonBackend(daemon)
    for call in (backend.get_instance, backend.get_metrics, backend.start, backend.stop):
        with pytest.raises(NotFound, match=ID_B):
            call(ID_B)


def test_the_backend_acts_through_the_same_commands_as_the_cli(
    world: World, daemon: Daemon
) -> None:
    inst = _create(world)
    (Path(inst.path) / "world.json").write_text('{"tick": 7}')
    daemon.load_registry(first=True)
    backend = DaemonBackend(daemon)
    backend.start(inst.id)
    assert world.mem.units[inst.unit].active == "active"
    first = json.loads(backend.backup(inst.id, None))
    second = json.loads(backend.backup(inst.id, 1))
    assert second["pruned"] == [first["file"]] and Path(second["file"]).is_file()
    backend.stop(inst.id)
    assert world.mem.units[inst.unit].active == "inactive"


def test_the_store_is_where_the_cli_reads_events(world: World, daemon: Daemon) -> None:
    inst = _running(world, daemon)
    reader = Store(world.paths.state / "warlock.db")
    try:
        assert [(e.kind, e.instance_id) for e in reader.events(0)] == [("started", inst.id)]
    finally:
        reader.close()


def test_a_create_killed_half_way_is_reported_when_the_daemon_starts(
    world: World, daemon: Daemon
) -> None:
    half = _create(world, "half", ID_B)
    note = world.paths.state / f".creating-{half.id}.json"
    note.write_text(json.dumps({"id": half.id, "path": half.path, "user_existed": False,
                                "dir_mode": None}))  # fmt: skip
    daemon.report_interrupted()
    assert _events(daemon) == []  # its record was saved: nothing half-made
    with world.host.registry.lock():
        world.host.registry.remove(half)  # killed before its record was saved
    daemon.report_interrupted()
    assert _events(daemon) == [
        ("daemon", f"a create of {half.id} was interrupted; the next create undoes it")
    ]


class _Hooks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def submit(self, ev: Event, name: str | None = None) -> None:
        self.sent.append((ev.kind, name))

    def stop(self, timeout: float) -> None:
        pass


def test_events_commands_record_go_out_once_and_the_daemons_own_are_not_repeated(
    world: World, daemon: Daemon
) -> None:
    inst = _create(world)
    daemon.load_registry(first=True)
    daemon.seen_event = daemon.store.last_event_id() if daemon.store else 0
    hooks = daemon.dispatcher = _Hooks()
    daemon.event("backup", inst, "ours")  # sent at once, by event()
    world.host.record_event("update", inst.id, "updated from build 1 to 2")  # a command's
    world.host.record_event("port_conflict", inst.id, "port 30000/udp is taken")
    daemon.forward_events()
    daemon.forward_events()
    assert hooks.sent == [("backup", "alpha"), ("update", "alpha"), ("port_conflict", "alpha")]
