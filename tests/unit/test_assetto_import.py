"""import-pack, link and the settings of an Assetto Corsa instance, on the in-memory host."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from tests.unit import acpack
from tests.unit.support import ID_A, ID_B, World, make_paths
from warlockd import acserver
from warlockd.actions import Args
from warlockd.actions.clone import clone
from warlockd.actions.configs import do_get_configs, do_set_config
from warlockd.actions.import_pack import do_import_pack, import_pack
from warlockd.actions.link import do_link
from warlockd.actions.services import do_get_services
from warlockd.actions.update import check_update, update
from warlockd.errors import Conflict, InvalidInput, NotFound, WarlockError
from warlockd.layout import data_dir
from warlockd.model import Instance
from warlockd.systemd import UnitState

LINK = "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort=8081"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, make_paths(tmp_path))


def _import(world: World, path: Path, **kw: object) -> Instance:
    made, _ = import_pack(world.host, str(path), **kw)  # type: ignore[arg-type]
    return made


def _config(inst: Instance) -> str:
    return (data_dir(inst) / acserver.CONFIG).read_text(encoding="utf-8")


def test_two_imports_of_one_pack_share_the_server_files_and_get_their_own_ports(
    world: World, tmp_path: Path
) -> None:
    path = acpack.build(tmp_path / "server-pack.tar.gz")
    a = _import(world, path, name="Monday league")
    b = _import(world, path, name="Tuesday practice")
    assert a.ports == {"udp": 9600, "tcp": 9600, "http": 8081}  # the pack's own: free
    assert b.ports == {"udp": 9601, "tcp": 9601, "http": 8082}  # the next free set
    assert a.build == b.build and a.build.startswith("pack-")
    builds = list((world.paths.apps).glob("*/pack-*"))
    assert len(builds) == 1  # one copy of the server files
    original = (acpack.FIXTURES / "server_cfg.ini").read_text(encoding="utf-8").splitlines()
    for inst in (a, b):
        lines = _config(inst).splitlines()
        changed = {(x, y) for x, y in zip(original, lines, strict=True) if x != y}
        p = inst.ports
        expected = {("UDP_PORT=9610", f"UDP_PORT={p['udp']}"),
                    ("TCP_PORT=9610", f"TCP_PORT={p['tcp']}"),
                    ("HTTP_PORT=8082", f"HTTP_PORT={p['http']}")}  # fmt: skip
        assert changed == {(x, y) for x, y in expected if x != y}
        assert (data_dir(inst) / "cfg/entry_list.ini").is_file()
        assert not (data_dir(inst) / "content").exists()  # linked from the build at start
        assert inst.max_players == 2  # the pack's MAX_CLIENTS
    rendered = (world.paths.units / f"{a.unit}.d" / "50-warlock.conf").read_text()
    assert f'"{a.path}/data" "{builds[0]}" "9600" "9600" "8081"' in rendered
    assert "--link" in rendered and '--probe" "assetto:8081"' in rendered


def test_the_pack_name_becomes_the_instance_name_without_the_wrappers_port(
    world: World, tmp_path: Path
) -> None:
    made = _import(world, acpack.build(tmp_path / "p.zip", kind="zip"))
    assert made.name == "akina"


def test_ports_held_on_the_host_move_the_whole_set_and_a_given_port_is_kept(
    world: World, tmp_path: Path
) -> None:
    world.held[("udp", 9600)] = "process 1 (other)"
    path = acpack.build(tmp_path / "p.tar.gz")
    assert _import(world, path).ports == {"udp": 9601, "tcp": 9601, "http": 8082}
    made = _import(world, path, ports=["http=9000"])
    assert made.ports == {"udp": 9602, "tcp": 9602, "http": 9000}
    with pytest.raises(Conflict, match="9000"):
        _import(world, path, ports=["http=9000"])


BAD_INPUT = {
    "windows only": lambda t: acpack.build(t / "p.zip", {"acServer": None, "acServer.exe": (
        b"MZ", 0o644)}, kind="zip"),
    "dotdot": lambda t: acpack.tar_with(t / "p.tar.gz", tarfile.TarInfo("../x")),
    "ports": lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        acpack.server_cfg((9600, 99999, 8081)).encode(), 0o644)}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_a_refused_pack_changes_nothing_on_disk_or_in_systemd(
    case: str, world: World, tmp_path: Path
) -> None:
    path = BAD_INPUT[case](tmp_path / "in")
    before = world.snapshot()
    with pytest.raises(InvalidInput):
        do_import_pack(world.host, Args(archive=str(path)))
    assert world.snapshot() == before


def test_bad_options_are_refused_before_the_build_is_made(world: World, tmp_path: Path) -> None:
    path = acpack.build(tmp_path / "in/p.tar.gz")
    before = world.snapshot()
    for args in (Args(archive=str(path), dir="relative/dir"),
                 Args(archive=str(path), instance_name="a;b"),
                 Args(archive=str(path), app="example")):  # fmt: skip
        with pytest.raises(InvalidInput):
            do_import_pack(world.host, args)
    with pytest.raises(NotFound):
        do_import_pack(world.host, Args(archive=str(tmp_path / "none.zip")))
    assert world.snapshot() == before


def test_the_outcome_is_the_instance_as_json_with_its_build_and_notes(
    world: World, tmp_path: Path
) -> None:
    path = acpack.build(tmp_path / "p.tar.gz", {"README.txt": (b"x", 0o644)})
    out = do_import_pack(world.host, Args(archive=str(path), instance_id=ID_A))
    assert out.data["id"] == ID_A and out.data["build"].startswith("pack-")
    assert any("UDP_PORT=9600" in n and "HTTP_PORT=8081" in n for n in out.notes)
    assert any("README.txt" in n for n in out.notes)


def test_settings_are_read_from_and_written_into_the_presets_ini(
    world: World, tmp_path: Path
) -> None:
    inst = _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A)
    rows = {r["option"]: r["value"] for r in do_get_configs(world.host, Args(instance=ID_A)).data}
    assert rows["Max Clients"] == 2 and rows["Track"] == "pk_akina"
    assert rows["Track Layout"] == "akina_downhill" and rows["Register to Lobby"] == 1
    assert rows["Practice Minutes"] == 1440 and rows["Qualify Minutes"] is None
    assert rows["UDP Port"] == 9600 and rows["HTTP Port"] == 8081
    before = _config(inst)
    do_set_config(world.host, Args(instance=ID_A, setting=["Max Clients", "18"]))
    after = _config(inst)
    assert after == before.replace("MAX_CLIENTS=2\n", "MAX_CLIENTS=18\n")
    do_set_config(world.host, Args(instance=ID_A, setting=["Password", "s3cret"]))
    assert "PASSWORD=s3cret\n" in _config(inst) and "[FTP]\nHOST=\nLOGIN=\nPASSWORD=\n" in _config(
        inst
    )
    do_set_config(world.host, Args(instance=ID_A, setting=["Server Name", "Monday league"]))
    assert "NAME=Monday league\n" in _config(inst)
    assert world.host.registry.get(ID_A).name == "Monday league"
    with pytest.raises(InvalidInput):
        do_set_config(world.host, Args(instance=ID_A, setting=["Max Clients", "many"]))


def test_a_port_setting_moves_through_the_allocator_and_may_share_a_number_across_protocols(
    world: World, tmp_path: Path
) -> None:
    _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A)
    do_set_config(world.host, Args(instance=ID_A, setting=["UDP Port", "9700"]))
    do_set_config(world.host, Args(instance=ID_A, setting=["TCP Port", "9700"]))  # UDP's number
    assert world.host.registry.get(ID_A).ports == {"udp": 9700, "tcp": 9700, "http": 8081}
    with pytest.raises(InvalidInput, match="another port"):
        do_set_config(world.host, Args(instance=ID_A, setting=["HTTP Port", "9700"]))  # TCP's
    dropin = (world.paths.units / f"game@{ID_A}.service.d" / "50-warlock.conf").read_text()
    assert '"9700" "9700" "8081"' in dropin  # the start step writes them into the INI


def _running(world: World, inst: Instance, status: str) -> None:
    world.mem.units[inst.unit] = UnitState(
        name=inst.unit, load="loaded", active="active", sub="running", main_pid=0,
        status_text=status,
    )  # fmt: skip


def test_link_answers_the_link_the_runner_put_in_the_units_status(
    world: World, tmp_path: Path
) -> None:
    inst = _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A)
    with pytest.raises(WarlockError, match="stopped"):
        do_link(world.host, Args(instance=ID_A))
    _running(world, inst, "players 0/2")
    with pytest.raises(WarlockError, match="not announced a join link yet") as e:
        do_link(world.host, Args(instance=ID_A))
    assert "Register to Lobby" in (e.value.hint or "")
    _running(world, inst, f"players 1/2: Keiichi | session race | map pk_akina | join {LINK}")
    assert do_link(world.host, Args(instance=ID_A)).data == LINK
    svc = do_get_services(world.host, Args(instance=ID_A)).data[inst.service]
    assert svc["link"] == LINK and svc["status"] == "running"
    # nothing answers /INFO here: track and session as the runner last saw them
    assert (svc["map"], svc["session"]) == ("pk_akina", "race")
    with pytest.raises(NotFound):
        do_link(world.host, Args(instance=ID_B))


def test_an_app_without_a_link_pattern_says_so(world: World) -> None:
    from warlockd.actions.create import CreateRequest, create

    create(world.host, CreateRequest("example", "x", ID_A))
    with pytest.raises(InvalidInput, match="announces no join link"):
        do_link(world.host, Args(instance=ID_A))


def test_a_pack_build_is_not_updated_and_a_clone_shares_it(world: World, tmp_path: Path) -> None:
    inst = _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A)
    assert check_update(world.host, inst) is None
    result = update(world.host, inst)
    assert not result.updated and "import-pack" in result.reason
    copy = clone(world.host, inst, instance_id=ID_B)
    assert copy.build == inst.build and copy.ports == {"udp": 9601, "tcp": 9601, "http": 8082}
    assert (data_dir(copy) / acserver.CONFIG).is_file()


def test_first_run_finds_a_pack_instances_build_without_steamcmd(
    world: World, tmp_path: Path
) -> None:
    from warlockd.actions.panel import do_first_run

    inst = _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A)
    notes = do_first_run(world.host, Args(instance=ID_A)).notes
    assert f"{inst.service}: Assetto Corsa build {inst.build} is installed" in notes


def test_the_dashboard_shows_each_join_link_in_full_below_the_table(
    world: World, tmp_path: Path
) -> None:
    from warlockd.actions.dashboard import dashboard_rows
    from warlockd.cli.render import render_dashboard

    inst = _import(world, acpack.build(tmp_path / "p.tar.gz"), instance_id=ID_A, name="Monday")
    _running(world, inst, f"players 1/2 | join {LINK}")
    rows = dashboard_rows(world.host)
    assert rows[0]["link"] == LINK
    text = render_dashboard(rows, {}, width=60)
    assert text.endswith(f"join Monday: {LINK}\n")
