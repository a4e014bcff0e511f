"""get_configs and set_config: the contract's shape, what a change reports, refusals that
leave the disk alone, and concurrent changes of one file that keep every update."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from tests.unit.settings_samples import OPENARENA_CFG
from tests.unit.support import INSTALLERS
from tests.unit.test_settings_files import snapshot
from warlockd.apps import App, load_manifest
from warlockd.errors import InvalidInput
from warlockd.settings.api import Change, get_configs, set_config

CONTRACT_KEYS = {"option", "default", "value", "type", "help", "options", "group"}
OA_CFG = "home/baseoa/server.cfg"


def openarena() -> App:
    return load_manifest(INSTALLERS / "openarena.toml")


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    d = tmp_path / "instance"
    d.mkdir()
    return d


@pytest.fixture
def locks(tmp_path: Path) -> Path:
    return tmp_path / "locks"


def _with_cfg(inst: Path, text: str = OPENARENA_CFG) -> Path:
    cfg = inst / OA_CFG
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text)
    return cfg


def _values(app: App, inst: Path, cli: dict[str, str] | None = None) -> dict[str, object]:
    return {c["option"]: c["value"] for c in get_configs(app, inst, cli or {})}


def test_get_configs_returns_the_contract_shape_for_every_option(inst: Path) -> None:
    _with_cfg(inst)
    app = openarena()
    configs = get_configs(app, inst, {})
    assert [c["option"] for c in configs] == [o.option for o in app.configs]
    for c in configs:
        assert set(c) == CONTRACT_KEYS
        assert isinstance(c["options"], list)
    json.dumps(configs)  # the panel parses stdout as JSON
    players = next(c for c in configs if c["option"] == "Max Players")
    assert players == {
        "option": "Max Players", "default": 12, "value": 10, "type": "int",
        "help": "Player slots, bots included", "options": [], "group": "Server",
    }  # fmt: skip


def test_values_come_from_the_file_then_the_cli_values_then_the_defaults(inst: Path) -> None:
    app = openarena()
    assert _values(app, inst)["Max Players"] == 12  # no file: every default
    assert _values(app, inst)["Server Name"] is None  # no default: the game decides
    _with_cfg(inst)
    values = _values(app, inst, {"map": "oa_dm3"})
    assert values["Server Name"] == "Debian arena"
    assert values["Game Type"] == 3
    assert values["Frag Limit"] == 20  # not in the file
    assert values["Map"] == "oa_dm3"  # format cli: from the record
    assert _values(app, inst)["Map"] == "oa_dm1"


def test_set_config_writes_the_file_and_reports_the_change(inst: Path, locks: Path) -> None:
    cfg = _with_cfg(inst)
    change = set_config(openarena(), inst, {}, "Max Players", "16", lock_dir=locks)
    assert change == Change("Max Players", 10, 16, OA_CFG, None, True, True)
    assert cfg.read_text() == OPENARENA_CFG.replace("sv_maxclients 10", 'sv_maxclients "16"')
    assert json.loads(json.dumps(change.to_dict()))["new"] == 16


def test_a_missing_file_is_created_with_the_one_setting(inst: Path, locks: Path) -> None:
    change = set_config(openarena(), inst, {}, "Message of the Day", "Hi all", lock_dir=locks)
    assert (change.old, change.new, change.changed) == (None, "Hi all", True)
    assert (inst / OA_CFG).read_text() == 'set g_motd "Hi all"\n'


def test_setting_the_same_value_again_writes_nothing(inst: Path, locks: Path) -> None:
    cfg = _with_cfg(inst)
    before = cfg.stat().st_ino
    change = set_config(openarena(), inst, {}, "Game Type", "3", lock_dir=locks)
    assert (change.changed, change.restart_needed) == (False, False)
    assert cfg.stat().st_ino == before and cfg.read_text() == OPENARENA_CFG


def test_empty_text_unsets_an_option_without_default(inst: Path, locks: Path) -> None:
    cfg = _with_cfg(inst)
    change = set_config(openarena(), inst, {}, "Server Name", "", lock_dir=locks)
    assert (change.old, change.new) == ("Debian arena", None)
    assert "sv_hostname" not in cfg.read_text().replace("//sv_hostname", "")
    assert _values(openarena(), inst)["Server Name"] is None


def test_a_cli_option_returns_the_new_cli_values_and_writes_nothing(
    inst: Path, locks: Path
) -> None:
    before = snapshot(inst)
    change = set_config(openarena(), inst, {"x": "1"}, "Map", "oa_ctf4ish", lock_dir=locks)
    record = {"x": "1", "map": "oa_ctf4ish"}
    assert change == Change("Map", None, "oa_ctf4ish", None, record, True, True)
    assert snapshot(inst) == before and not locks.exists()


def test_an_unknown_option_is_refused_with_the_known_names_in_one_line(inst: Path) -> None:
    with pytest.raises(InvalidInput) as e:
        set_config(openarena(), inst, {}, "max players", "8", lock_dir=inst)
    assert e.value.message == "unknown option 'max players'"
    assert e.value.hint is not None and "'Max Players'" in e.value.hint
    assert "'Server Name'" in e.value.hint and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("No Such Option", "1"),
        ("Max Players", "many"),  # wrong type
        ("Max Players", "65"),  # out of range
        ("Game Type", "2"),  # not one of the options
        ("Warmup", "perhaps"),
        ("Server Name", 'x" ; rconpassword "owned'),  # a quote
        ("Server Name", "x; quit"),  # a command separator
        ("Message of the Day", "one\nset rconpassword owned"),  # a newline
        ("Server Password", "a\x00b"),  # a NUL
        ("Map", "oa_dm1 +set rconpassword owned"),  # cli: another argument
    ],
)
def test_every_refusal_changes_nothing_on_disk(
    inst: Path, locks: Path, option: str, text: str
) -> None:
    _with_cfg(inst)
    before = snapshot(inst)
    with pytest.raises(InvalidInput):
        set_config(openarena(), inst, {}, option, text, lock_dir=locks)
    assert snapshot(inst) == before


def test_a_refusal_found_while_writing_changes_nothing_either(tmp_path: Path, locks: Path) -> None:
    app = load_manifest(INSTALLERS / "palworld.toml")
    inst = tmp_path / "pal"
    ini = inst / "Pal/Saved/Config/LinuxServer/PalWorldSettings.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text('[/Script/Pal.PalGameWorldSettings]\nOptionSettings=(DeathPenalty="All")\n')
    before = snapshot(inst)
    set_config(app, inst, {}, "Death Penalty", "Item", lock_dir=locks)  # quoted stays quoted
    assert 'DeathPenalty="Item"' in ini.read_text()
    ini.write_text(ini.read_text().replace('"Item"', "Item"))
    before = snapshot(inst)
    with pytest.raises(InvalidInput):  # an Unreal bare word must be one word
        set_config(app, inst, {}, "Crossplay Platforms", "Steam,Mac x", lock_dir=locks)
    assert snapshot(inst) == before


def _hammer(inst: Path, locks: Path, option: str, values: list[str]) -> None:
    app = load_manifest(INSTALLERS / "example.toml")
    for v in values:
        set_config(app, inst, {}, option, v, lock_dir=locks)


WRITERS = {
    "Max Players": [str(n) for n in range(1, 31)],
    "Tick Rate": [f"{n}.5" for n in range(1, 31)],
    "Message of the Day": [f"motd {n}" for n in range(1, 31)],
    "Server Name": [f"name {n}" for n in range(1, 31)],
}


def _final(inst: Path) -> dict[str, object]:
    return json.loads((inst / "settings.json").read_text())  # type: ignore[no-any-return]


def test_concurrent_set_config_threads_lose_no_update(inst: Path, locks: Path) -> None:
    threads = [
        threading.Thread(target=_hammer, args=(inst, locks, option, texts))
        for option, texts in WRITERS.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = _final(inst)
    assert (final["max_players"], final["tick_rate"]) == (30, 30.5)
    assert (final["motd"], final["name"]) == ("motd 30", "name 30")


def test_concurrent_set_config_processes_lose_no_update(inst: Path, locks: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_hammer, args=(inst, locks, option, texts))
        for option, texts in WRITERS.items()
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    final = _final(inst)
    assert (final["max_players"], final["tick_rate"]) == (30, 30.5)
    assert (final["motd"], final["name"]) == ("motd 30", "name 30")


def _manifest(tmp_path: Path, extra: str) -> Path:
    text = (INSTALLERS / "example.toml").read_text()
    path = tmp_path / "example.toml"
    path.write_text(text + "\n[[config]]\noption = \"Bad\"\nformat = \"json\"\n"
                    f"file = \"settings.json\"\nkey = \"bad\"\n{extra}\n")  # fmt: skip
    return path


# the index of the table the test adds after the example manifest's own
_ADDED = (Path(__file__).parents[2] / "installers" / "example.toml").read_text().count("[[config]]")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('type = "str"\nmin = 1', "min: only for type int or float"),
        ('type = "int"\nmin = 1.5', "min: expected a number of type int"),
        ('type = "int"\nmin = 5\nmax = 1', "min: expected at most max"),
        ('style = "plain"', "style: expected nothing (format json has no styles)"),
        ('struct = "OptionSettings"', "struct: only for format ini"),
    ],
)
def test_manifest_extras_are_checked_with_the_file_and_the_key(
    tmp_path: Path, extra: str, problem: str
) -> None:
    path = _manifest(tmp_path, extra)
    with pytest.raises(InvalidInput) as e:
        get_configs(load_manifest(path), tmp_path, {})
    assert str(path) in e.value.message and f"config[{_ADDED}].{problem}" in e.value.message
