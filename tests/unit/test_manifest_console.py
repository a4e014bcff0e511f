"""[rcon], [console] and [[files]] in manifests: what is refused (every problem at once), and
how Teeworlds' econ and Minetest's console mod render into a unit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import BUNDLED, ID_A, INSTALLED, INSTALLERS
from warlockd import units
from warlockd.apps import App, FileSpec, load_manifest
from warlockd.errors import InvalidInput
from warlockd.manifest import parse_manifest
from warlockd.model import Instance
from warlockd.runner_files import unescape_text

BASE: dict[str, Any] = {
    "guid": "0b5c7a52-3f3e-4b8e-9d0f-5a1c2e3d4f61",
    "slug": "game",
    "title": "A game",
    "run": {"command": ["/bin/game"]},
    "ports": [{"key": "game", "protocol": "udp", "default": 30000},
              {"key": "admin", "protocol": "tcp", "default": 30001}],
}  # fmt: skip


def parse(**extra: Any) -> App:
    return parse_manifest(Path("game.toml"), BASE | extra)


def problems(**extra: Any) -> list[str]:
    with pytest.raises(InvalidInput) as e:
        parse(**extra)
    return [line.strip() for line in e.value.message.splitlines()[1:]]


def test_teeworlds_econ_is_an_rcon_protocol_and_others_are_refused_by_name() -> None:
    rcon = {"protocol": "teeworlds-econ", "port": "admin", "password": "{{ secrets.pw }}"}
    assert parse(rcon=rcon).rcon == ("teeworlds-econ", "admin", "{{ secrets.pw }}")
    (line,) = problems(rcon=rcon | {"protocol": "telnet"})
    assert "rcon.protocol: expected quake3, source or teeworlds-econ, got 'telnet'" in line


def test_a_file_console_names_its_request_and_response() -> None:
    app = parse(console={"transport": "file", "request": "w/in", "response": "w/out"})
    assert app.console[3:] == ("file", "w/in", "w/out")
    assert parse().console.transport == "stdin"


@pytest.mark.parametrize(
    ("console", "expected"),
    [
        ({"transport": "file"}, ["console.request: expected a path relative to the game's "
                                 "directory, for transport file",
                                 "console.response: expected a path relative to the game's "
                                 "directory, for transport file"]),
        ({"request": "w/in"}, ["console.request: expected no such key unless transport is file"]),
        ({"transport": "telnet"}, ["console.transport: expected stdin or file, got 'telnet'"]),
        ({"transport": "file", "request": "/etc/x", "response": "../out"},
         ["console.request: expected a path relative to the game's directory, got '/etc/x'",
          "console.response: expected a path relative to the game's directory, got '../out'"]),
        ({"transport": "file", "request": "w/x", "response": "w/x"},
         ["console.response: expected a path other than the request's"]),
    ],
)  # fmt: skip
def test_a_file_console_s_mistakes_are_each_named(
    console: dict[str, str], expected: list[str]
) -> None:
    assert [p.split(": ", 1)[1] for p in problems(console=console)] == expected


def test_a_file_console_and_an_rcon_exclude_each_other() -> None:
    rcon = {"protocol": "source", "port": "admin", "password": "x"}
    console = {"transport": "file", "request": "in", "response": "out"}
    assert problems(rcon=rcon, console=console) == [
        "game.toml: console.transport: expected stdin with [rcon] (commands go over the rcon)"
    ]


def test_files_are_text_or_link_and_every_mistake_is_reported_at_once() -> None:
    files = [
        {"path": "a.cfg", "text": "x", "link": "/y"},
        {"path": "b.cfg"},
        {"path": "../c", "text": "x"},
        {"path": "console", "text": "x"},
        {"path": "d", "link": "/y", "keep": True},
        {"path": "e", "text": "bell \a"},
    ]
    assert [p.split(": ", 1)[1] for p in problems(files=files)] == [
        "files[0]: expected exactly one of text and link",
        "files[1]: expected exactly one of text and link",
        "files[2].path: expected a path relative to the game's directory, got '../c'",
        "files[3].path: expected a path other than console (the runner's console)",
        "files[4].keep: expected no such key with link (a link is always kept)",
        "files[5].text: expected a template of lines of text, got 'bell \\x07'",
    ]
    assert problems(files={"path": "x"}) == [
        "game.toml: files: expected a list of [[files]] tables"
    ]


def test_files_parse_in_order_with_keep_defaulting_to_false() -> None:
    files = [{"path": "p.cfg", "text": "a\nb"}, {"path": "mods/m", "link": "{{ bundled }}/m"},
             {"path": "k.cfg", "text": "k", "keep": True}]  # fmt: skip
    assert parse(files=files).files == (
        FileSpec("p.cfg", "a\nb"), FileSpec("mods/m", link="{{ bundled }}/m"),
        FileSpec("k.cfg", "k", keep=True),
    )  # fmt: skip


@pytest.mark.parametrize("text", ["", "one line", "two\nlines\n", "tab\there", "back\\slash\\n"])
def test_a_file_s_text_survives_its_trip_through_the_environment(text: str) -> None:
    escaped = units.escape_text(text)
    assert escaped.isprintable()
    assert unescape_text(escaped) == text if text.endswith("\n") else text + "\n"


def _instance(app: App) -> Instance:
    return Instance(
        id=ID_A, app=app.guid, name="Tee", path="/srv/games/tee",
        ports={p.key: p.default for p in app.ports}, created_at="2026-01-01T00:00:00+00:00",
        secrets={k: "Pw" + "x" * (n - 2) for k, n in app.secrets.items()},
    )  # fmt: skip


def test_teeworlds_econ_listens_on_loopback_and_its_password_stays_off_every_command_line() -> None:
    app = load_manifest(INSTALLERS / "teeworlds.toml")
    inst = _instance(app)
    password = inst.secrets["econ_password"]
    assert len(password) <= 31  # what ec_password holds
    dropin = units.render_dropin(inst, app, INSTALLED, Path("/usr"))
    assert password not in dropin.conf
    assert '"--file" "warlock-econ.cfg=WARLOCK_FILE_0"' in dropin.conf
    # the game's arguments: the econ last (server.cfg cannot move it), on 127.0.0.1
    assert (
        '"ec_bindaddr 127.0.0.1" "ec_port 8304" "ec_bantime 0" "-f" "warlock-econ.cfg"'
        in (dropin.conf.split('"-f" "server.cfg"', 1)[1])
    )
    secret_line = next(
        line for line in dropin.secrets.splitlines() if line.startswith("WARLOCK_FILE_0=")
    )
    # systemd reads \\ \" \` \$ in a quoted EnvironmentFile= value as the character itself
    value = re.sub(r"\\(.)", r"\1", secret_line.split("=", 1)[1][1:-1])
    text = unescape_text(value)
    assert f'ec_password "{password}"' in text.splitlines()
    assert app.port("econ").protocol == "tcp"
    assert app.rcon == ("teeworlds-econ", "econ", "{{ secrets.econ_password }}")
    assert app.console.say == "say {{ message }}"


def test_minetest_links_the_console_mod_into_its_world_and_talks_through_files() -> None:
    app = load_manifest(INSTALLERS / "minetest.toml", BUNDLED)
    argv = units.runner_argv(
        _instance(app), app, ["game"], units.file_options(app, units.context(
            _instance(app), app, Path("/usr")))
    )  # fmt: skip
    link = argv[argv.index("--link") + 1]
    assert link == f"world/worldmods/warlock_console={BUNDLED}/minetest/warlock_console"
    mod = Path(link.split("=", 1)[1])
    assert (mod / "init.lua").is_file() and "name = warlock_console" in (
        mod / "mod.conf"
    ).read_text()
    assert app.console[3:] == ("file", "world/warlock-console.request",
                               "world/warlock-console.response")  # fmt: skip
    # the mod reads and writes the files the manifest names, in the world directory
    lua = (mod / "init.lua").read_text()
    assert 'REQUEST = "warlock-console.request"' in lua
    assert 'RESPONSE = "warlock-console.response"' in lua


def test_a_link_target_must_render_absolute() -> None:
    app = parse(files=[{"path": "m", "link": "{{ name }}"}])
    inst = _instance(app)
    with pytest.raises(InvalidInput, match="is not absolute"):
        units.render_dropin(inst, app, INSTALLED, Path("/usr"))
