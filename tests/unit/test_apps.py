from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.support import BUNDLED, EXAMPLE_GUID, INSTALLERS, make_paths
from warlockd.apps import Transport, find_app, load_manifest, manifest_files
from warlockd.errors import InvalidInput, NotFound

GOOD = """
guid = "{guid}"
slug = "{slug}"
title = "{title}"

[run]
command = ["/usr/bin/true"]

[[ports]]
key = "game"
protocol = "udp"
default = 27015
"""

BROKEN = """
guid = "NOT-A-GUID"
slug = "Bad Slug!"
title = "Broken"

[run]

[[ports]]
key = "game"
protocol = "udp"
default = 70000

[[ports]]
key = "query"
protocol = "sctp"
default = 27016

[query]
protocol = "gamespy9"
"""


def _write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_text(text)
    return path


def test_the_example_manifest_loads() -> None:
    app = load_manifest(INSTALLERS / "example.toml", BUNDLED)
    assert app.guid == EXAMPLE_GUID
    assert app.slug == "example"
    assert [(p.key, p.protocol, p.default) for p in app.ports] == [("game", Transport.BOTH, 30000)]
    assert app.query == "warlock-status"
    assert app.query_port == "game"
    assert app.watchdog == 6 and app.stop.command == "stop"
    assert app.asset_path == BUNDLED / "example"
    assert (app.asset_path / "server.py").is_file()  # what its command runs


def test_a_manifest_with_several_mistakes_reports_all_of_them_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.toml", BROKEN)
    with pytest.raises(InvalidInput) as e:
        load_manifest(path)
    lines = str(e.value.message).splitlines()
    problems = [line.strip() for line in lines[1:]]
    expected_keys = [
        "guid",
        "slug",
        "run.command",
        "ports[0].default",
        "ports[1].protocol",
        "query.protocol",
    ]
    assert [p.split(": ")[1] for p in problems] == expected_keys  # one message per mistake
    assert lines[0] == f"6 problem(s) in {path}:"
    assert all(p.startswith(f"{path}: ") for p in problems)
    assert "NOT-A-GUID" in e.value.message
    assert "70000" in e.value.message
    assert "sctp" in e.value.message
    assert "gamespy9" in e.value.message


def test_a_manifest_that_is_not_toml_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.toml", "guid = [\n")
    with pytest.raises(InvalidInput, match="not valid TOML") as e:
        load_manifest(path)
    assert str(path) in e.value.message


@pytest.mark.parametrize("command", ["[]", '["/bin/x", 1]', '"/bin/x"'])
def test_a_command_must_be_a_non_empty_list_of_strings(tmp_path: Path, command: str) -> None:
    text = GOOD.format(guid=EXAMPLE_GUID, slug="x", title="X").replace(
        'command = ["/usr/bin/true"]', f"command = {command}"
    )
    with pytest.raises(InvalidInput) as e:
        load_manifest(_write(tmp_path, "x.toml", text))
    assert e.value.message.startswith("1 problem(s)")
    assert "run.command: expected a non-empty list of strings" in e.value.message


def test_a_query_port_must_name_a_declared_port(tmp_path: Path) -> None:
    text = GOOD.format(guid=EXAMPLE_GUID, slug="x", title="X") + '\n[query]\nport = "rcon"\n'
    with pytest.raises(InvalidInput, match=r"query\.port"):
        load_manifest(_write(tmp_path, "x.toml", text))


def test_duplicate_port_keys_are_refused(tmp_path: Path) -> None:
    text = GOOD.format(guid=EXAMPLE_GUID, slug="x", title="X")
    text += '\n[[ports]]\nkey = "game"\nprotocol = "tcp"\ndefault = 27020\n'
    with pytest.raises(InvalidInput, match="distinct keys"):
        load_manifest(_write(tmp_path, "x.toml", text))


def test_find_app_finds_by_slug_and_by_guid() -> None:
    paths = make_paths(Path("/nonexistent"))
    assert find_app(paths, "example").guid == EXAMPLE_GUID
    assert find_app(paths, EXAMPLE_GUID).slug == "example"


def test_find_app_finds_by_the_slug_inside_a_file_named_otherwise(tmp_path: Path) -> None:
    guid = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
    _write(
        tmp_path / "inst",
        "named-differently.toml",
        GOOD.format(guid=guid, slug="mygame", title="T"),
    )
    paths = make_paths(tmp_path, installers=tmp_path / "inst")
    assert find_app(paths, "mygame").guid == guid


def test_an_unknown_app_is_not_found_and_the_known_apps_are_listed(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    with pytest.raises(NotFound) as e:
        find_app(paths, "nope")
    assert "nope" in e.value.message
    assert e.value.hint is not None and "example" in e.value.hint


def test_a_broken_manifest_of_another_app_does_not_hide_this_one(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    _write(inst, "broken.toml", BROKEN)
    _write(inst, "good.toml", GOOD.format(guid=EXAMPLE_GUID, slug="good", title="Good"))
    paths = make_paths(tmp_path, installers=inst)
    assert find_app(paths, EXAMPLE_GUID).slug == "good"


def test_asking_for_a_broken_manifest_by_name_reports_its_problems(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    _write(inst, "broken.toml", BROKEN)
    with pytest.raises(InvalidInput, match="problem"):
        find_app(make_paths(tmp_path, installers=inst), "broken")


def test_a_manifest_in_installers_d_overrides_the_shipped_one(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    _write(
        paths.extra_installers,
        "example.toml",
        GOOD.format(guid=EXAMPLE_GUID, slug="example", title="Local example"),
    )
    app = find_app(paths, "example")
    assert app.title == "Local example"
    assert app.manifest == paths.extra_installers / "example.toml"
    assert [f.parent for f in manifest_files(paths) if f.stem == "example"] == [
        paths.extra_installers
    ]
