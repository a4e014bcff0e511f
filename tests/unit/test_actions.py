from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, World
from warlockd.accounts import MemoryAccounts
from warlockd.actions.create import CreateRequest, create, recover_interrupted
from warlockd.actions.delete import delete
from warlockd.actions.services import listing
from warlockd.actions.setup import refresh_dropins
from warlockd.actions.start_stop import restart, set_enabled, start, stop
from warlockd.errors import Conflict, InvalidInput, NotFound, SystemdError, WarlockError
from warlockd.layout import data_dir
from warlockd.model import DEFAULT_ID, Instance, Limits, parse_id
from warlockd.store import Store
from warlockd.systemd import UnitState

NGINX = "process 42 (nginx)"


def _create(world: World, **kw: object) -> Instance:
    return create(world.host, CreateRequest(app=kw.pop("app", "example"), **kw))  # type: ignore[arg-type]


def _dropin(world: World, inst: Instance) -> Path:
    return world.paths.units / f"{inst.unit}.d" / "50-warlock.conf"


def _registry_files(world: World, inst: Instance) -> list[Path]:
    stem = f"{EXAMPLE_GUID}.{inst.id}" if inst.id != DEFAULT_ID else EXAMPLE_GUID
    return [world.paths.state / f"{stem}.app", world.paths.state / f"{stem}.toml"]


def test_three_instances_get_distinct_ports_records_dropins_and_reload_only_when_needed(
    world: World,
) -> None:
    made = []
    for n in range(3):
        before = world.mem.reloads
        made.append(_create(world, name=f"server {n}"))
        # the first create installs the template; later units were never loaded: no reload
        assert world.mem.reloads == before + (1 if n == 0 else 0)
    assert [i.ports for i in made] == [{"game": 30000}, {"game": 30001}, {"game": 30002}]
    assert len({i.id for i in made}) == 3
    for inst in made:
        app_file, _ = _registry_files(world, inst)
        assert app_file.read_text() == inst.path
        assert world.host.registry.get(inst.id) == inst
        assert f'"SERVER_PORT={inst.ports["game"]}"' in _dropin(world, inst).read_text()
        assert data_dir(inst).is_dir()
        assert world.accounts.users[inst.user] == str(data_dir(inst))  # the game's home
        top = Path(inst.path)
        assert (top / "manage.py").is_file() and (top / "backups").is_dir()
    assert (world.paths.units / "game@.service").is_file()
    assert [op for op, _ in world.mem.calls if op != "states"] == ["reload"]


def test_create_reloads_when_systemd_has_the_unit_loaded_already(world: World) -> None:
    _create(world, name="first")  # installs the template
    iid = "9b2f6a3e-1c4d-4e5f-8a6b-7c8d9e0f1a2b"
    world.mem.units[f"game@{iid}.service"] = UnitState(f"game@{iid}.service", load="not-found")
    before = world.mem.reloads
    _create(world, name="second", instance_id=iid)
    assert world.mem.reloads == before + 1


def test_create_uses_the_given_id_name_dir_limits_and_env(world: World) -> None:
    inst = _create(
        world,
        instance_id=ID_A,
        name="Mine",
        dir=str(world.root / "games" / "mine"),
        limits=Limits(memory_max="1G"),
        env=["GREETING=hi there"],
        ports=["game=31000"],
    )
    assert (inst.id, inst.name, inst.ports) == (ID_A, "Mine", {"game": 31000})
    assert inst.path == str(world.root / "games" / "mine")
    text = _dropin(world, inst).read_text()
    assert "MemoryMax=1G\n" in text
    assert 'Environment="GREETING=hi there"\n' in text
    assert oct(Path(inst.path).stat().st_mode & 0o777) == oct(0o755)  # root's: manage.py
    assert oct(data_dir(inst).stat().st_mode & 0o777) == oct(0o750)  # the game's


def test_create_of_the_default_instance_registers_it_under_the_bare_guid(world: World) -> None:
    inst = _create(world, instance_id=DEFAULT_ID)
    assert all(p.is_file() for p in _registry_files(world, inst))
    assert inst.user == "wl-default"


def test_auto_allocation_skips_ports_held_on_the_host(world: World) -> None:
    world.held[("udp", 30000)] = NGINX
    world.held[("tcp", 30001)] = "process 7 (sshd)"
    assert _create(world).ports == {"game": 30002}


@pytest.fixture
def seeded(world: World) -> World:
    """A host with one instance in its own directory and one in the default place."""
    _create(world, instance_id=ID_A, name="first", dir=str(world.root / "games" / "a"))
    _create(world, name="second")
    world.held[("udp", 30005)] = NGINX
    return world


REFUSALS: dict[str, tuple[dict[str, object], type[WarlockError], str]] = {
    "duplicate id": ({"instance_id": ID_A}, Conflict, "already exists"),
    "unknown app": ({"app": "nope"}, NotFound, "unknown app"),
    "name with newline": ({"name": "a\nb"}, InvalidInput, "control character"),
    "300-char name": ({"name": "x" * 300}, InvalidInput, "at most 64"),
    "port not a number": ({"ports": ["game=abc"]}, InvalidInput, "not a number"),
    "port out of range": ({"ports": ["game=70000"]}, InvalidInput, "out of range"),
    "port of unknown key": ({"ports": ["rcon=31000"]}, InvalidInput, "no port 'rcon'"),
    "port held on the host": ({"ports": ["game=30005"]}, Conflict, NGINX),
    "port of another instance": ({"ports": ["game=30000"]}, Conflict, f"instance {ID_A}"),
    "relative dir": ({"dir": "games/b"}, InvalidInput, "not an absolute path"),
    "dir with dots": ({"dir": "/srv/../etc/x"}, InvalidInput, "normalised"),
    "system dir": ({"dir": "/etc/game"}, InvalidInput, "system directory"),
    "env without value": ({"env": ["NOEQUALS"]}, InvalidInput, "NAME=value"),
    "env non-ascii name": ({"env": ["é=1"]}, InvalidInput, "NAME=value"),
    "env value with newline": ({"env": ["A=x\ny"]}, InvalidInput, "control character"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_create_changes_nothing(seeded: World, case: str) -> None:
    kw, error, says = REFUSALS[case]
    before = seeded.snapshot()
    with pytest.raises(error) as e:
        _create(seeded, **kw)
    assert says in str(e.value)
    assert seeded.snapshot() == before


@pytest.mark.parametrize("where", ["inside", "same", "parent"])
def test_create_refuses_a_dir_overlapping_another_instance(seeded: World, where: str) -> None:
    first = seeded.root / "games" / "a"
    given = {"inside": first / "sub", "same": first, "parent": seeded.root / "games"}[where]
    before = seeded.snapshot()
    with pytest.raises((Conflict, InvalidInput)):
        _create(seeded, dir=str(given))
    assert seeded.snapshot() == before


def test_create_refuses_a_dir_inside_a_default_instance_dir(seeded: World) -> None:
    other = _create(seeded)
    before = seeded.snapshot()
    with pytest.raises(WarlockError):
        _create(seeded, dir=other.path + "/nested")
    assert seeded.snapshot() == before


def test_a_failure_in_the_middle_of_create_rolls_everything_back(seeded: World) -> None:
    seeded.mem.reachable = False  # the daemon-reload fails after user, dir and drop-in
    before = seeded.snapshot()
    with pytest.raises(SystemdError):
        _create(seeded, instance_id=ID_B)
    assert seeded.snapshot() == before
    assert not (seeded.paths.state / "instances" / ID_B).exists()


def test_a_failed_create_on_a_fresh_host_leaves_no_record_dropin_or_user(world: World) -> None:
    world.mem.reachable = False
    with pytest.raises(SystemdError):
        _create(world, instance_id=ID_B)
    assert world.host.registry.scan() == ([], [])
    assert not list(world.paths.units.glob("game@*"))
    assert world.accounts.users == {}
    assert not (world.paths.instances / ID_B).exists()


def test_a_failure_while_registering_removes_the_record_written_so_far(seeded: World) -> None:
    # The record is written, then the .app file cannot be: its temp path is taken.
    blocker = seeded.paths.state / f".{EXAMPLE_GUID}.{ID_B}.app.{os.getpid()}.tmp"
    blocker.mkdir()
    ids = sorted(i.id for i in seeded.host.registry.all())
    before = seeded.snapshot()
    with pytest.raises(OSError):
        _create(seeded, instance_id=ID_B)
    assert seeded.snapshot()["files"] == before["files"]
    assert seeded.accounts.users == before["users"]
    assert sorted(i.id for i in seeded.host.registry.all()) == ids


def test_a_failed_create_gives_an_empty_dir_back_as_it_was(seeded: World) -> None:
    given = seeded.root / "games" / "empty"
    given.mkdir(mode=0o755)
    given.chmod(0o755)
    seeded.mem.reachable = False
    before = seeded.snapshot()
    with pytest.raises(SystemdError):
        _create(seeded, dir=str(given))
    assert seeded.snapshot() == before  # mode and owner included


class _NobodyAccounts(MemoryAccounts):
    """Instance users that really are someone else: root can chown to them."""

    def ensure(self, name: str, home: str) -> tuple[int, int]:
        super().ensure(name, home)
        return 65534, 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory away")
def test_a_failed_create_gives_an_empty_dir_back_to_its_owner(world: World) -> None:
    world.accounts = _NobodyAccounts()
    given = world.root / "empty"
    given.mkdir()
    world.mem.reachable = False
    with pytest.raises(SystemdError):
        _create(world, dir=str(given))
    assert (given.stat().st_uid, given.stat().st_gid) == (os.getuid(), os.getgid())


def test_create_refuses_an_explicit_port_a_host_process_holds(world: World) -> None:
    world.held[("udp", 30000)] = NGINX
    before = world.snapshot()
    with pytest.raises(Conflict, match=r"process 42 \(nginx\)"):
        _create(world, ports=["game=30000"])
    assert world.snapshot()["calls"] == before["calls"]
    assert world.host.registry.scan() == ([], [])
    assert world.accounts.users == {}


@pytest.fixture
def inst(world: World) -> Instance:
    return _create(world, instance_id=ID_A)


def test_start_stop_and_restart_drive_the_unit(world: World, inst: Instance) -> None:
    start(world.host, inst)
    assert world.mem.units[inst.unit].active == "active"
    pid = world.mem.units[inst.unit].main_pid
    restart(world.host, inst)
    assert world.mem.units[inst.unit].active == "active"
    assert world.mem.units[inst.unit].main_pid != pid
    stop(world.host, inst)
    assert world.mem.units[inst.unit].active == "inactive"


def test_enable_and_disable_change_systemd_and_the_record(world: World, inst: Instance) -> None:
    set_enabled(world.host, inst, True)
    assert inst.unit in world.mem.enabled
    assert world.host.registry.get(inst.id).enabled is True
    set_enabled(world.host, inst, False)
    assert inst.unit not in world.mem.enabled
    assert world.host.registry.get(inst.id).enabled is False


def test_start_refuses_when_a_host_process_took_the_port(world: World, inst: Instance) -> None:
    world.held[("tcp", inst.ports["game"])] = NGINX
    calls = len(world.mem.calls)
    with pytest.raises(Conflict, match=r"process 42 \(nginx\)"):
        start(world.host, inst)
    assert [op for op, _ in world.mem.calls[calls:]] == ["states"]  # looked, did not start
    assert inst.unit not in world.mem.units
    store = Store(world.paths.state / "warlock.db")
    (ev,) = store.events(0)
    store.close()
    assert (ev.kind, ev.instance_id) == ("port_conflict", inst.id) and "nginx" in ev.message


def test_an_event_that_cannot_be_recorded_is_a_warning_not_a_failure(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    (world.paths.state / "warlock.db").mkdir(parents=True)  # not a database
    world.host.record_event("update", ID_A, "updated")
    assert capsys.readouterr().err.startswith("warning: event not recorded: ")


def test_start_of_a_running_instance_does_not_trip_over_its_own_ports(
    world: World, inst: Instance
) -> None:
    start(world.host, inst)
    world.held[("udp", inst.ports["game"])] = "process 1001 (python3)"  # its own server
    start(world.host, inst)
    assert world.mem.units[inst.unit].active == "active"


def test_start_of_a_crashed_instance_resets_failed_first(world: World, inst: Instance) -> None:
    world.set_state(inst.unit, "failed", "failed")
    calls = len(world.mem.calls)
    start(world.host, inst)
    ops = [(op, unit) for op, unit in world.mem.calls[calls:] if op not in ("state", "states")]
    assert ops == [("reset_failed", inst.unit), ("start", inst.unit)]
    assert world.mem.units[inst.unit].active == "active"


def test_start_of_a_stopped_instance_is_one_listing_and_the_start_job(
    world: World, inst: Instance
) -> None:
    calls = len(world.mem.calls)
    start(world.host, inst)
    assert [op for op, _ in world.mem.calls[calls:]] == ["states", "start"]


def test_start_of_an_instance_of_a_removed_app_is_not_found(world: World, inst: Instance) -> None:
    orphan = inst.with_(app="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    with pytest.raises(NotFound, match="unknown app"):
        start(world.host, orphan)
    assert ("start", inst.unit) not in world.mem.calls


def test_delete_stops_and_unregisters_but_keeps_data_and_user(world: World, inst: Instance) -> None:
    start(world.host, inst)
    set_enabled(world.host, inst, True)
    removed = delete(world.host, inst, purge=False)
    assert str(_dropin(world, inst)) in removed
    assert not _dropin(world, inst).parent.exists()
    assert not any(p.exists() for p in _registry_files(world, inst))
    assert world.mem.units[inst.unit].active == "inactive"
    assert inst.unit not in world.mem.enabled
    assert Path(inst.path).is_dir()
    assert inst.user in world.accounts.users
    with pytest.raises(NotFound):
        world.host.registry.get(inst.id)


def test_delete_with_purge_also_removes_the_dir_and_the_user(world: World, inst: Instance) -> None:
    (data_dir(inst) / "world.sav").write_text("x")
    removed = delete(world.host, inst, purge=True)
    assert not Path(inst.path).exists()
    assert inst.user not in world.accounts.users
    assert inst.path in removed and f"user {inst.user}" in removed


def test_delete_leaves_the_other_instances_alone(world: World) -> None:
    a, b = _create(world), _create(world)
    delete(world.host, a, purge=True)
    assert world.host.registry.all() == [b]
    assert _dropin(world, b).is_file() and Path(b.path).is_dir()


def test_resolve_without_an_id_uses_the_default_instance(world: World) -> None:
    _create(world)
    default = _create(world, instance_id=DEFAULT_ID)
    assert world.host.registry.resolve(None) == default


def test_resolve_without_an_id_or_default_lists_the_ids(world: World) -> None:
    a, b = _create(world), _create(world)
    with pytest.raises(InvalidInput) as e:
        world.host.registry.resolve(None)
    assert e.value.hint is not None and a.id in e.value.hint and b.id in e.value.hint


def test_resolve_on_an_empty_host_says_how_to_create_one(world: World) -> None:
    with pytest.raises(InvalidInput) as e:
        world.host.registry.resolve(None)
    assert e.value.hint is not None and "--create" in e.value.hint


def test_resolve_of_an_unknown_or_malformed_id(world: World) -> None:
    with pytest.raises(NotFound):
        world.host.registry.resolve(ID_B)
    with pytest.raises(InvalidInput):
        world.host.registry.resolve(parse_id("a/b"))


@pytest.mark.parametrize("count", [1, 3])
def test_listing_asks_systemd_once_whatever_the_number_of_instances(
    world: World, count: int
) -> None:
    made = [_create(world) for _ in range(count)]
    world.set_state(made[0].unit, "failed", "failed")
    calls = len(world.mem.calls)
    rows, problems = listing(world.host)
    assert [op for op, _ in world.mem.calls[calls:]] == ["states"]
    assert problems == []
    status = {inst.id: live["status"] for inst, live in rows}
    assert status == {i.id: "crashed" if i is made[0] else "stopped" for i in made}


def test_listing_shows_live_states_and_registry_problems(world: World) -> None:
    a, b, c = _create(world), _create(world), _create(world)
    start(world.host, a)
    start(world.host, b)
    world.mem.crash(b.unit)
    (world.paths.state / "junk.toml").write_text("")
    rows, problems = listing(world.host)
    status = {inst.id: live["status"] for inst, live in rows}
    assert status == {a.id: "running", b.id: "crashed", c.id: "stopped"}
    assert [p.file for p in problems] == ["junk.toml"]


def test_listing_of_an_empty_host_does_not_touch_systemd(world: World) -> None:
    world.mem.reachable = False
    assert listing(world.host) == ([], [])


def _killed_before_its_record(world: World, **kw: object) -> Instance:
    """What a create killed -9 just before saving its record leaves: user, directory,
    drop-in and its note (a real create, then its record taken away)."""
    made = _create(world, **kw)
    note = world.paths.state / f".creating-{made.id}.json"
    note.write_text(json.dumps({"id": made.id, "path": made.path, "user_existed": False,
                                "dir_mode": None}))  # fmt: skip
    with world.host.registry.lock():
        world.host.registry.remove(made)
    return made


def test_the_next_create_undoes_a_create_killed_half_way(world: World) -> None:
    half = _killed_before_its_record(world, instance_id=ID_A)
    dropin = world.paths.dropin_dir(half.unit) / "50-warlock.conf"
    assert dropin.exists() and Path(half.path).is_dir() and half.user in world.accounts.users
    reloads = world.mem.reloads
    other = _create(world, instance_id=ID_B)
    assert not dropin.exists() and not Path(half.path).exists()
    assert half.user not in world.accounts.users
    assert world.mem.reloads == reloads + 1  # systemd forgets the drop-in
    assert not list(world.paths.state.glob(".creating-*"))
    assert [i.id for i in world.host.registry.all()] == [other.id]
    left = [f for f in world.snapshot()["files"] if half.id in f or half.user in f]
    assert left == []


def test_a_create_killed_after_its_record_keeps_its_instance(world: World) -> None:
    made = _create(world, instance_id=ID_A)
    note = world.paths.state / f".creating-{made.id}.json"
    note.write_text(json.dumps({"id": made.id, "path": made.path, "user_existed": False,
                                "dir_mode": None}))  # fmt: skip
    assert recover_interrupted(world.host) == []
    assert not note.exists()
    assert world.host.registry.get(ID_A) == made and Path(made.path).is_dir()
    assert made.user in world.accounts.users


def test_an_interrupted_create_into_an_empty_dir_gives_the_dir_back(world: World) -> None:
    given = world.root / "games" / "mine"
    given.mkdir(parents=True, mode=0o755)
    st = given.stat()
    half = _killed_before_its_record(world, instance_id=ID_A, dir=str(given))
    note = world.paths.state / f".creating-{half.id}.json"
    note.write_text(json.dumps({"id": half.id, "path": half.path, "user_existed": False,
                                "dir_mode": [0o755, st.st_uid, st.st_gid]}))  # fmt: skip
    assert recover_interrupted(world.host) == [ID_A]
    assert given.is_dir() and (given.stat().st_mode & 0o7777) == 0o755


def test_a_successful_create_leaves_no_note(world: World) -> None:
    _create(world)
    assert not list(world.paths.state.glob(".creating-*"))


def _rewritten(lines: list[str]) -> list[str]:
    """The units whose drop-ins refresh_dropins says it rewrote."""
    return [line.split()[4] for line in lines if line.startswith("rewrote the drop-in of ")]


def test_refresh_rewrites_only_the_dropins_that_differ_with_one_reload(world: World) -> None:
    made = [create(world.host, CreateRequest("example", f"n{n}")) for n in range(3)]
    stale = world.paths.dropin_dir(made[1].unit) / "50-warlock.conf"
    current = stale.read_text()
    stale.write_text(current.replace("TimeoutStopSec=", "TimeoutStopSec=1\n#"))
    untouched = {p: p.stat().st_mtime_ns for p in world.paths.units.rglob("*.conf")}
    reloads = world.mem.reloads
    assert _rewritten(refresh_dropins(world.host)) == [made[1].unit]
    assert stale.read_text() == current and world.mem.reloads == reloads + 1
    for path, mtime in untouched.items():
        if path != stale:
            assert path.stat().st_mtime_ns == mtime  # the others were not written again
    assert refresh_dropins(world.host) == [] and world.mem.reloads == reloads + 1


def test_refresh_moves_inline_secrets_to_the_secrets_file(world: World) -> None:
    inst = create(world.host, CreateRequest("example", "secret"))
    inst = inst.with_(secrets={"rcon_password": "Abcdefghij0123456789"})
    with world.host.registry.lock():
        world.host.registry.save(inst)  # as a record of an app that has secrets would be
    old = world.paths.dropin_dir(inst.unit) / "50-warlock.conf"
    old.write_text(old.read_text() + 'Environment="X=Abcdefghij0123456789"\n')
    assert _rewritten(refresh_dropins(world.host)) == [inst.unit]
    assert "Abcdefghij0123456789" not in old.read_text()
    secrets = old.parent / "secrets.env"
    assert "Abcdefghij0123456789" in secrets.read_text()
    assert secrets.stat().st_mode & 0o777 == 0o600


def test_refresh_skips_an_instance_whose_app_is_gone_and_goes_on(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = (create(world.host, CreateRequest("example", n)) for n in ("a", "b"))
    orphan = a.with_(app="00000000-0000-4000-8000-000000000000")
    with world.host.registry.lock():
        world.host.registry.remove(a)
        world.host.registry.save(orphan)
    (world.paths.dropin_dir(b.unit) / "50-warlock.conf").write_text("[Service]\n")
    assert _rewritten(refresh_dropins(world.host)) == [b.unit]
    assert f"{a.unit}: left as it is" in capsys.readouterr().err
