"""Off-site backups through the table's commands, to a real restic repository on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B, World
from warlockd.actions import Args
from warlockd.actions.backup import do_backup, do_backups
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.restore import do_restore
from warlockd.actions.start_stop import start
from warlockd.errors import Conflict, InvalidInput, WarlockError
from warlockd.layout import data_dir
from warlockd.model import Instance

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


@pytest.fixture
def repo(world: World, tmp_path: Path) -> Path:
    password = tmp_path / "offsite.password"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    world.paths.config.mkdir(parents=True, exist_ok=True)
    repository = tmp_path / "repo"
    world.paths.config_file.write_text(
        f'[offsite]\nrepository = "{repository}"\npassword_file = "{password}"\n'
        f'cache_dir = "{tmp_path / "cache"}"\n'
    )
    return repository


@pytest.fixture
def inst(world: World) -> Instance:
    made = create(world.host, CreateRequest("example", "Offsite", ID_A))
    _tick(made, 1)
    return made


def _tick(inst: Instance, tick: int) -> None:
    (data_dir(inst) / "world.json").write_text(json.dumps({"tick": tick}))


def _backup(world: World, **options: object) -> dict[str, object]:
    args = Args(instance=ID_A, to="offsite")._replace(**options)  # type: ignore[arg-type]
    data: dict[str, object] = do_backup(world.host, args).data
    return data


def test_offsite_backups_are_listed_with_local_ones_and_restore(
    world: World, repo: Path, inst: Instance
) -> None:
    first = _backup(world)
    _tick(inst, 2)
    do_backup(world.host, Args(instance=ID_A))  # a local one beside them
    _tick(inst, 3)
    second = _backup(world)
    snaps = [first["snapshot"], second["snapshot"]]
    assert all(isinstance(s, dict) for s in snaps)
    listed = do_backups(world.host, Args(instance=ID_A)).data
    assert [r["where"] for r in listed] == ["offsite", "local", "offsite"]  # newest first
    assert listed[0]["restore"] == f"offsite:{snaps[1]['id']}"  # type: ignore[index]
    _tick(inst, 9)
    done = do_restore(world.host, Args(instance=ID_A, archive=str(listed[2]["restore"]))).data
    assert json.loads((data_dir(inst) / "world.json").read_text()) == {"tick": 1}
    assert done["paths"] == ["world.json"] and Path(str(done["safety_backup"])).is_file()


def test_keep_forgets_this_instances_older_snapshots_only(
    world: World, repo: Path, inst: Instance
) -> None:
    other = create(world.host, CreateRequest("example", "Other", ID_B))
    _tick(other, 5)
    do_backup(world.host, Args(instance=ID_B, to="offsite"))
    for tick in (1, 2, 3):
        _tick(inst, tick)
        done = _backup(world, max_backups=2)
    assert len(done["forgotten"]) == 1  # type: ignore[arg-type]
    mine = [r for r in do_backups(world.host, Args(instance=ID_A)).data if r["where"] == "offsite"]
    theirs = [
        r for r in do_backups(world.host, Args(instance=ID_B)).data if r["where"] == "offsite"
    ]
    assert (len(mine), len(theirs)) == (2, 1)
    with pytest.raises(InvalidInput, match="instance"):  # another instance's snapshot
        do_restore(world.host, Args(instance=ID_A, archive=str(theirs[0]["restore"])))


def test_restore_of_a_snapshot_refuses_a_running_game_unless_forced(
    world: World, repo: Path, inst: Instance
) -> None:
    snap = _backup(world)["snapshot"]
    start(world.host, inst)
    given = f"offsite:{snap['id']}"  # type: ignore[index]
    with pytest.raises(Conflict, match="running"):
        do_restore(world.host, Args(instance=ID_A, archive=given))
    done = do_restore(world.host, Args(instance=ID_A, archive=given, force=True)).data
    assert done["restarted"] is True


def test_a_wrong_password_is_one_clear_line_and_local_backups_go_on(
    world: World, repo: Path, inst: Instance, tmp_path: Path
) -> None:
    _backup(world)
    (tmp_path / "offsite.password").write_text("wrong\n")
    with pytest.raises(WarlockError, match="password") as e:
        _backup(world)
    assert "\n" not in e.value.message
    made = do_backup(world.host, Args(instance=ID_A)).data
    assert Path(str(made["file"])).is_file()
    listed = do_backups(world.host, Args(instance=ID_A))
    assert [r["where"] for r in listed.data] == ["local"]
    assert listed.notes and "not listed" in listed.notes[0]


def test_offsite_without_a_repository_says_how_to_configure_one(
    world: World, inst: Instance
) -> None:
    with pytest.raises(InvalidInput, match="no off-site repository") as e:
        _backup(world)
    assert e.value.hint and "[offsite]" in e.value.hint
    with pytest.raises(InvalidInput, match="--to"):
        _backup(world, to="cloud")
