"""get-configs and set-config over a World: the game's file, the record, the drop-in, the
port allocator, and every refusal changing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.support import BUNDLED, ID_A, ID_B, INSTALLERS, World, make_paths
from warlockd.actions import Args
from warlockd.actions.configs import do_get_configs, do_set_config
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.start_stop import start
from warlockd.errors import Conflict, InvalidInput, NotFound
from warlockd.layout import data_dir
from warlockd.model import Instance

CLI_GAME = """
guid = "0123abcd-0000-4000-8000-000000000001"
slug = "cligame"
title = "A game with command-line settings"
[run]
command = ["/bin/sleep", "{{ config.map }}", "{{ '--hard' if config.hard == 'true' }}"]
[[ports]]
key = "game"
protocol = "udp"
default = 40000
[[config]]
option = "Map"
format = "cli"
key = "map"
type = "str"
default = "island"
options = ["island", "desert"]
[[config]]
option = "Hard"
format = "cli"
key = "hard"
type = "bool"
default = false
"""


@pytest.fixture
def inst(world: World) -> Instance:
    return create(world.host, CreateRequest("example", "Settings", ID_A))


def _set(world: World, option: str, value: str, instance: str = ID_A) -> dict[str, object]:
    args = Args(instance=instance, setting=(option, value))  # type: ignore[arg-type]
    data: dict[str, object] = do_set_config(world.host, args).data
    return data


def _settings(inst: Instance) -> dict[str, object]:
    return dict(json.loads((data_dir(inst) / "settings.json").read_text()))


def test_get_configs_has_the_contracts_shape_and_the_instance(world: World, inst: Instance) -> None:
    rows = do_get_configs(world.host, Args(instance=ID_A)).data
    keys = {"option", "default", "value", "type", "help", "options", "group", "instance_id", "name"}
    assert all(set(r) == keys for r in rows)
    by = {r["option"]: r for r in rows}
    assert by["Max Players"]["value"] == 16 and by["Game Port"]["value"] == inst.ports["game"]
    assert by["Map"]["options"] == ["example", "arena", "island"]


def test_set_config_writes_the_games_file_and_the_record(world: World, inst: Instance) -> None:
    out = _set(world, "Max Players", "8")
    assert (out["old"], out["new"], out["changed"], out["restart_needed"]) == (None, 8, True, False)
    _set(world, "Server Name", "Friday night")
    assert _settings(inst) == {"max_players": 8, "name": "Friday night"}
    record = world.host.registry.get(ID_A)
    assert (record.name, record.max_players) == ("Friday night", 8)
    assert record.settings_changed > 0
    dropin = (world.paths.dropin_dir(inst.unit) / "50-warlock.conf").read_text()
    assert 'Environment="MAX_PLAYERS=8"' in dropin and "Friday night" in dropin


def test_a_running_game_needs_a_restart_to_apply_a_change(world: World, inst: Instance) -> None:
    start(world.host, inst)
    assert _set(world, "Map", "arena")["restart_needed"] is True
    assert _set(world, "Map", "arena")["changed"] is False  # the same value again


def test_a_port_setting_goes_through_the_allocator(world: World, inst: Instance) -> None:
    other = create(world.host, CreateRequest("example", "Other", ID_B))
    _set(world, "Game Port", "31500")
    assert world.host.registry.get(ID_A).ports == {"game": 31500}
    dropin = (world.paths.dropin_dir(inst.unit) / "50-warlock.conf").read_text()
    assert '"SERVER_PORT=31500"' in dropin
    before = world.snapshot()
    with pytest.raises(Conflict, match=f"instance {other.id}"):
        _set(world, "Game Port", str(other.ports["game"]))
    world.held[("udp", 31600)] = "process 42 (nginx)"
    with pytest.raises(Conflict, match="nginx"):
        _set(world, "Game Port", "31600")
    for bad in ("80", "70000", "port"):
        with pytest.raises(InvalidInput):
            _set(world, "Game Port", bad)
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("Max Players", "lots", "whole number"),
        ("Max Players", "0", "1"),
        ("Map", "moon", "moon"),
        ("Tick Rate", "fast", "a number"),
        ("No Such Option", "1", "unknown option"),
        ("Server Name", 'a"b', '"'),
        ("Server Name", "a;b", ";"),
        ("Server Name", "two\nlines", "line"),
        ("Message of the Day", "nul\x00here", "NUL"),
    ],
)
def test_a_refused_setting_changes_nothing(
    world: World, inst: Instance, option: str, value: str, says: str
) -> None:
    _set(world, "Max Players", "8")
    before = world.snapshot()
    with pytest.raises(InvalidInput) as e:
        _set(world, option, value)
    assert says.lower() in str(e.value).lower()
    assert world.snapshot() == before


def test_an_unknown_instance_is_refused(world: World, inst: Instance) -> None:
    with pytest.raises(NotFound):
        _set(world, "Max Players", "4", ID_B)


def test_command_line_settings_live_in_the_record_and_reach_the_command(
    world: World, tmp_path: Path
) -> None:
    installers = tmp_path / "installers"
    installers.mkdir()
    for f in INSTALLERS.glob("*.toml"):
        (installers / f.name).write_text(f.read_text())
    (installers / "cligame.toml").write_text(CLI_GAME)
    cli_world = World(tmp_path / "w", make_paths(tmp_path / "w", installers))
    made = create(cli_world.host, CreateRequest("cligame", "Cli", ID_A))
    dropin = cli_world.paths.dropin_dir(made.unit) / "50-warlock.conf"
    assert '"/bin/sleep" "island"\n' in dropin.read_text()  # unset options: left out
    _set(cli_world, "Map", "desert")
    _set(cli_world, "Hard", "yes")
    assert cli_world.host.registry.get(ID_A).config == {"map": "desert", "hard": "true"}
    assert '"/bin/sleep" "desert" "--hard"\n' in dropin.read_text()
    assert not (data_dir(made) / "settings.json").exists()  # nothing in the game's files
    assert BUNDLED.is_dir()
