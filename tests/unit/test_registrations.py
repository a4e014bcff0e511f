"""The .app files Warlock panels discover, in both layouts, and someone else's left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, World
from warlockd import registrations
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.delete import delete
from warlockd.actions.setup import refresh_dropins
from warlockd.errors import Conflict
from warlockd.model import Instance, parse_id

FOREIGN = "/home/steam/Example"  # what a Warlock installer of the same game would write


def _layout(world: World, how: str) -> None:
    world.paths.config.mkdir(parents=True, exist_ok=True)
    world.paths.config_file.write_text(f'[panel]\nregistration = "{how}"\n')


def _apps(world: World) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(world.paths.state.glob("*.app"))}


def _make(world: World, name: str, instance_id: str) -> Instance:
    return create(world.host, CreateRequest("example", name, parse_id(instance_id)))


def test_by_default_each_instance_has_its_own_app_file(world: World) -> None:
    a, default = _make(world, "a", ID_A), _make(world, "d", "default")
    assert _apps(world) == {
        f"{EXAMPLE_GUID}.{ID_A}.app": a.path,
        f"{EXAMPLE_GUID}.app": default.path,
    }
    assert (Path(a.path) / "manage.py").is_file()


def test_the_game_layout_has_one_app_file_per_game_listing_its_instances(world: World) -> None:
    _layout(world, "game")
    _make(world, "a", ID_A)
    _make(world, "b", ID_B)
    game = world.paths.state / "games" / EXAMPLE_GUID
    assert _apps(world) == {f"{EXAMPLE_GUID}.app": str(game)}
    shim = (game / "manage.py").read_text()
    assert f"run_for(app='{EXAMPLE_GUID}')" in shim
    assert (game / "manage.py").stat().st_mode & 0o777 == 0o755
    assert world.host.registry.scan()[1] == []  # a game's .app is no stray registration


def test_switching_layouts_rewrites_the_registrations_and_nothing_else(world: World) -> None:
    made = [_make(world, "a", ID_A), _make(world, "b", ID_B)]
    records = {p.name: p.read_bytes() for p in world.paths.state.glob("*.toml")}
    units = {p: p.read_bytes() for p in world.paths.units.rglob("*.conf")}
    before = _apps(world)
    _layout(world, "game")
    done = refresh_dropins(world.host)
    assert f"registered {world.paths.state / f'{EXAMPLE_GUID}.app'}" in done
    assert _apps(world) == {f"{EXAMPLE_GUID}.app": str(world.paths.state / "games" / EXAMPLE_GUID)}
    _layout(world, "instance")
    refresh_dropins(world.host)
    assert _apps(world) == before and not (world.paths.state / "games").exists()
    assert {p.name: p.read_bytes() for p in world.paths.state.glob("*.toml")} == records
    assert {p: p.read_bytes() for p in world.paths.units.rglob("*.conf")} == units
    assert all((Path(i.path) / "manage.py").is_file() for i in made)


def test_a_default_instance_never_takes_someone_elses_app_file(world: World) -> None:
    theirs = world.paths.state / f"{EXAMPLE_GUID}.app"
    world.paths.state.mkdir(parents=True)
    theirs.write_text(FOREIGN)
    with world.host.registry.lock():
        pass  # the lock file is there before, as on any host that has run a command
    before = world.snapshot()
    with pytest.raises(Conflict, match=str(theirs)) as e:
        _make(world, "d", "default")
    assert FOREIGN in e.value.message and e.value.hint
    assert world.snapshot() == before
    _make(world, "a", ID_A)  # an instance with its own id has its own file
    assert theirs.read_text() == FOREIGN


def test_the_game_layout_leaves_someone_elses_app_file_and_says_so(world: World) -> None:
    _make(world, "a", ID_A)
    theirs = world.paths.state / f"{EXAMPLE_GUID}.app"
    theirs.write_text(FOREIGN)
    _layout(world, "game")
    done = refresh_dropins(world.host)
    assert f"warning: left {theirs} alone: it belongs to something else" in done
    assert theirs.read_text() == FOREIGN
    with pytest.raises(Conflict, match="belongs to something else"):
        _make(world, "b", ID_B)


def test_deleting_a_games_last_instance_removes_its_registration(world: World) -> None:
    _layout(world, "game")
    a, b = _make(world, "a", ID_A), _make(world, "b", ID_B)
    delete(world.host, a, purge=True)
    assert list(_apps(world)) == [f"{EXAMPLE_GUID}.app"]
    delete(world.host, b, purge=True)
    assert _apps(world) == {} and not (world.paths.state / "games" / EXAMPLE_GUID).exists()


def test_wanted_names_the_files_of_each_layout(world: World) -> None:
    a = _make(world, "a", ID_A)
    paths = world.paths
    assert registrations.wanted(paths, [a], "instance") == {
        paths.state / f"{EXAMPLE_GUID}.{ID_A}.app": a.path
    }
    assert registrations.wanted(paths, [a], "game") == {
        paths.state / f"{EXAMPLE_GUID}.app": str(paths.state / "games" / EXAMPLE_GUID)
    }
