"""Every shipped manifest's options against a realistic file of its game: each reads, each
takes a new value that reads back, and the other options of the file stay as they were.
Where the Debian game is installed, its own files confirm the keys are ones it reads."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.unit.settings_samples import SAMPLES
from tests.unit.support import INSTALLERS
from warlockd.apps import App, load_manifest
from warlockd.settings import values
from warlockd.settings.api import get_configs, set_config
from warlockd.settings.spec import Setting, settings_of

MANIFESTS = sorted(INSTALLERS.glob("*.toml"))
OPTIONS = [(path.stem, s.option) for path in MANIFESTS for s in settings_of(load_manifest(path))]


def _setting(app: App, option: str) -> Setting:
    return next(s for s in settings_of(app) if s.option == option)


def _new_text(s: Setting, current: Any) -> str:
    """Command-line text for a valid value that differs from `current`."""
    if s.type == "list":
        pick = list(s.options[:2]) if s.options else ["alpha", "beta"]
        return ",".join(pick if pick != current else pick[:1])
    if s.options:
        return values.encode_plain(next(o for o in reversed(s.options) if o != current))
    if s.type == "bool":
        return "false" if current is True else "true"
    if s.type in ("int", "float"):
        lo = s.min if s.min is not None else 0
        steps = (1, 2, 0) if s.type == "int" else (0.25, 0.5, 0)
        fits = [lo + d for d in steps if (s.max is None or lo + d <= s.max) and lo + d != current]
        return values.encode_plain(int(fits[0]) if s.type == "int" else float(fits[0]))
    if s.type == "text" and values.kind(s) in values.MULTILINE:
        return "Warlock line one\nline two"
    return "Warlock-test" if s.format == "cli" else "Warlock test"


@pytest.mark.parametrize(("slug", "option"), OPTIONS, ids=[f"{a}:{b}" for a, b in OPTIONS])
def test_every_shipped_option_reads_its_game_file_and_writes_a_value_that_reads_back(
    tmp_path: Path, slug: str, option: str
) -> None:
    app = load_manifest(INSTALLERS / f"{slug}.toml")
    s = _setting(app, option)
    inst = tmp_path / "instance"
    for (game, rel), text in SAMPLES.items():
        if game == slug:
            (inst / rel).parent.mkdir(parents=True, exist_ok=True)
            (inst / rel).write_text(text, newline="")
    before = {c["option"]: c["value"] for c in get_configs(app, inst, {})}
    if s.file is not None:
        assert (slug, s.file) in SAMPLES, "add a sample of this file to settings_samples.py"
    text = _new_text(s, before[option])
    change = set_config(app, inst, {}, option, text, lock_dir=tmp_path / "locks")
    assert change.changed and change.new == values.parse(s, text)
    after = {c["option"]: c["value"] for c in get_configs(app, inst, change.cli_values or {})}
    assert after[option] == change.new
    assert {k: v for k, v in after.items() if k != option} == {
        k: v for k, v in before.items() if k != option
    }


@pytest.mark.parametrize(("slug", "option"), OPTIONS, ids=[f"{a}:{b}" for a, b in OPTIONS])
def test_every_shipped_default_and_option_passes_its_own_checks(slug: str, option: str) -> None:
    s = _setting(load_manifest(INSTALLERS / f"{slug}.toml"), option)
    if s.default is not None:
        values.check(s, s.default)
        kind = {"bool": bool, "int": int, "float": float, "list": list}.get(s.type, str)
        assert isinstance(s.default, kind)
    for allowed in s.options:
        parsed = values.parse(s, values.encode_plain(allowed))
        assert parsed == ([allowed] if s.type == "list" else allowed)


def test_every_config_file_is_one_the_game_writes_or_reads_in_its_instance_directory() -> None:
    files = {(p.stem, s.file) for p in MANIFESTS for s in settings_of(load_manifest(p)) if s.file}
    assert files == set(SAMPLES)


# ---- the Debian games: their own files know the keys, and the commands read the files


def _strings(path: str) -> str:
    if shutil.which("strings") is None or not Path(path).exists():
        pytest.skip(f"{path} or strings(1) is not installed")
    out = subprocess.run(["strings", path], capture_output=True, text=True, check=True).stdout
    return "\n" + out + "\n"


@cache
def _minetest_example() -> str:
    path = Path("/usr/share/doc/minetest/minetest.conf.example.gz")
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    return gzip.decompress(path.read_bytes()).decode()


def test_openarena_options_are_variables_of_its_engine_or_game() -> None:
    known = _strings("/usr/lib/ioquake3/ioq3ded") + _strings(
        "/usr/lib/openarena-server/baseoa/qagamex86_64.so"
    )
    for s in settings_of(load_manifest(INSTALLERS / "openarena.toml")):
        if s.format == "cfg":
            assert f"\n{s.key}\n" in known, s.key


def test_teeworlds_options_are_variables_of_its_server() -> None:
    known = _strings(os.path.realpath("/usr/games/teeworlds-server"))
    for s in settings_of(load_manifest(INSTALLERS / "teeworlds.toml")):
        assert s.key in known, s.key  # "password" sits inside a longer string there


def test_minetest_options_are_documented_keys() -> None:
    example = _minetest_example()
    for s in settings_of(load_manifest(INSTALLERS / "minetest.toml")):
        assert f"\n# {s.key} =" in example, s.key


def test_the_debian_games_commands_read_their_settings_files() -> None:
    oa = list(load_manifest(INSTALLERS / "openarena.toml").command)
    assert oa.index("+set") < oa.index("+exec") < oa.index("+map")  # defaults, file, map
    assert oa[oa.index("+exec") + 1] == "server.cfg"  # home/baseoa/server.cfg: fs_homepath
    tw = list(load_manifest(INSTALLERS / "teeworlds.toml").command)
    f = tw.index("-f")
    assert tw[f + 1] == "server.cfg"
    assert tw[f - 1].startswith("sv_max_clients") and tw[f + 2].startswith("sv_port")
    mt = list(load_manifest(INSTALLERS / "minetest.toml").command)
    assert mt[0] == "/usr/lib/minetest/minetestserver" and "--config" not in mt


def test_debians_minetest_wrapper_forces_the_host_wide_config() -> None:
    wrapper = Path("/usr/games/minetestserver")
    if not wrapper.exists():
        pytest.skip("minetest-server is not installed")
    text = wrapper.read_text()
    assert "--config /etc/minetest/minetest.conf" in text
    assert "exec /usr/lib/minetest/minetestserver" in text
