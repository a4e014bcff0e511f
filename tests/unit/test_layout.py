"""The instance directory: root's top with manage.py and the archives, the game's data/;
and the move of an instance made by an earlier version (layout 1) into it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B, REPO, World
from warlockd import layout
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.setup import refresh_dropins
from warlockd.model import Instance

GAME_UID, GAME_GID = 4242, 4243  # the game's user, as layout 1 left its files


def _legacy(world: World, instance_id: str = ID_A) -> Instance:
    """An instance as an earlier version left it: everything in its top, the game's."""
    made = create(world.host, CreateRequest("example", "old", instance_id))  # type: ignore[arg-type]
    top = Path(made.path)
    for entry in list(top.iterdir()):  # undo the new layout: data/'s content up one level
        if entry.name == "data":
            for inner in entry.iterdir():
                inner.rename(top / inner.name)
            entry.rmdir()
        elif entry.name == "manage.py":
            entry.unlink()
    (top / "world.json").write_text('{"tick": 7}')
    (top / "data").mkdir()  # a game may have its own directory called data
    (top / "data" / "maps.txt").write_text("island")
    (top / "link").symlink_to("/etc/shadow")  # a game's link: moved as a link, never followed
    (top / "backups" / f"{made.id}-backup-20260101-000000.tar.gz").write_bytes(b"b")
    (top / "backups" / f"{made.id}-pack-20260101-000000.tar.gz").write_bytes(b"p")
    for path in [top, *top.rglob("*")]:
        if "backups" not in path.parts[len(top.parts) - 1 :]:
            os.chown(path, GAME_UID, GAME_GID, follow_symlinks=False)
    old = made.with_(layout=1)
    with world.host.registry.lock():
        world.host.registry.save(old)
    return old


def _mode(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return st.st_uid, stat.S_IMODE(st.st_mode)


def test_a_new_instance_has_roots_top_and_the_games_data(world: World) -> None:
    inst = create(world.host, CreateRequest("example", "new", ID_A))
    top = Path(inst.path)
    assert inst.layout == layout.LAYOUT and layout.data_dir(inst) == top / "data"
    assert _mode(top) == (0, 0o755) and _mode(top / "manage.py") == (0, 0o755)
    assert _mode(top / "backups") == (0, 0o700)
    assert world.accounts.users[inst.user] == str(top / "data")  # the game's home
    assert (top / "data").stat().st_mode & 0o777 == 0o750
    assert "run_for(instance='" + ID_A + "')" in (top / "manage.py").read_text()


def test_migrate_moves_the_games_files_into_data_and_the_top_becomes_roots(
    world: World,
) -> None:
    old = _legacy(world)
    top = Path(old.path)
    moved = layout.migrate(old)
    assert moved.layout == layout.LAYOUT and layout.data_dir(moved) == top / "data"
    assert sorted(p.name for p in top.iterdir()) == [
        ".layout", "backups", "data", "manage.py", "packs",
    ]  # fmt: skip
    data = top / "data"
    assert (data / "world.json").read_text() == '{"tick": 7}'
    assert (data / "data" / "maps.txt").read_text() == "island"  # the game's own data/
    assert (data / "link").is_symlink() and os.readlink(data / "link") == "/etc/shadow"
    assert _mode(top) == (0, 0o755) and _mode(data) == (GAME_UID, 0o750)
    assert data.stat().st_gid == GAME_GID and (data / "world.json").stat().st_uid == GAME_UID
    assert [p.name for p in (top / "backups").iterdir()] == [
        f"{old.id}-backup-20260101-000000.tar.gz"
    ]
    assert [p.name for p in (top / "packs").iterdir()] == [f"{old.id}-pack-20260101-000000.tar.gz"]
    assert os.access(top / "manage.py", os.X_OK) and _mode(top / "manage.py")[0] == 0
    assert layout.migrate(moved) is moved  # nothing left to do


def test_a_move_cut_short_anywhere_finishes_when_run_again(world: World) -> None:
    old = _legacy(world)
    top = Path(old.path)
    # killed half-way: data/ under its temporary name with one entry, the rest still out
    moving = top / layout.MOVING
    moving.mkdir()
    os.chown(moving, GAME_UID, GAME_GID)
    (top / "world.json").rename(moving / "world.json")
    moved = layout.migrate(old)
    assert sorted(p.name for p in (top / "data").iterdir()) == ["data", "link", "world.json"]
    # killed after all went and the marker was written, before the rename: only that is left
    again = _legacy(world, ID_B)
    atop = Path(again.path)
    moving = atop / layout.MOVING
    moving.mkdir()
    for name in ("world.json", "data", "link"):
        (atop / name).rename(moving / name)
    (atop / layout.MARKER).write_text("2\n")
    layout.migrate(again)
    assert sorted(p.name for p in (atop / "data").iterdir()) == ["data", "link", "world.json"]
    assert not (atop / "data" / "data" / "data").exists() and moved.layout == 2


def test_setup_moves_a_stopped_instance_now_and_a_running_one_at_its_next_start(
    world: World,
) -> None:
    stopped, running = _legacy(world, ID_A), _legacy(world, ID_B)
    world.set_state(running.unit, "active", "running")
    done = refresh_dropins(world.host)
    assert any(f"moved the files of {stopped.unit}" in line for line in done), done
    assert any(f"{running.unit} runs" in line for line in done), done
    assert world.host.registry.get(stopped.id).layout == 2
    assert (Path(stopped.path) / "data" / "world.json").is_file()
    # the running game's files stay where it uses them; its unit moves them first next time
    assert world.host.registry.get(running.id).layout == 1
    assert (Path(running.path) / "world.json").is_file()
    dropin = (world.paths.dropin_dir(running.unit) / "50-warlock.conf").read_text()
    assert f'ExecStartPre=+"/usr/bin/python3" "-m" "warlockd.layout" "{running.id}"' in dropin
    assert f"WorkingDirectory=-{running.path}/data\n" in dropin
    plain = (world.paths.dropin_dir(stopped.unit) / "50-warlock.conf").read_text()
    assert "ExecStartPre" not in plain and f"WorkingDirectory={stopped.path}/data\n" in plain


def test_the_units_step_moves_the_files_and_records_it(world: World) -> None:
    old = _legacy(world)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "WARLOCK_STATE_DIR": str(world.paths.state),
        "WARLOCK_INSTALLERS_DIR": str(world.paths.installers),
    }
    run = [sys.executable, "-m", "warlockd.layout", old.id]
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert world.host.registry.get(old.id).layout == 2
    assert (Path(old.path) / "data" / "world.json").is_file()
    again = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert (again.returncode, again.stderr) == (0, "")  # moved already: nothing to say


@pytest.mark.parametrize("bad", ["ABC", "../x"])
def test_the_units_step_refuses_a_bad_id_with_one_line(world: World, bad: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    env["WARLOCK_STATE_DIR"] = str(world.paths.state)
    out = subprocess.run(
        [sys.executable, "-m", "warlockd.layout", bad], env=env, capture_output=True, text=True
    )
    assert out.returncode == 1 and out.stderr.startswith("error: ") and out.stderr[-1] == "\n"
    assert len(out.stderr.splitlines()) == 1
