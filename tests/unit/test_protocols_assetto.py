"""Assetto Corsa's HTTP interface and its join link: parsed from recorded answers and lines
(tests/fixtures/assetto), and asked of the stand-in server over real sockets."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit import acpack
from tests.unit.test_runner import free_port
from warlockd import links, metrics
from warlockd.apps import load_manifest
from warlockd.daemon.watch import Live, classify
from warlockd.protocols import MalformedReply, assetto
from warlockd.query import QueryResult, query

FIXTURES = acpack.FIXTURES
LINK_RE = re.compile(str(load_manifest(acpack.REPO / "installers/assetto-corsa.toml").link))


def test_the_recorded_info_answer_parses_to_the_presets_values() -> None:
    info = assetto.parse_info((FIXTURES / "info-akina.json").read_bytes())
    assert info == assetto.Info(
        name="akina \u2139" + "18082", track="pk_akina-akina_downhill", clients=0, max_clients=2,
        session="practice", cars=("ks_toyota_ae86_tuned",), time_left=86283,
        ports=(9610, 9610, 8082),
    )  # fmt: skip


def test_the_json_fixture_holds_the_values_acserver_printed_in_its_order() -> None:
    """info-akina.json is derived from acServer's own print of its /INFO struct: the
    values, in the struct's order, are the printed ones (README says which key is which)."""
    printed = (FIXTURES / "acserver-1.15-info-request.log").read_text().splitlines()[3]
    data = json.loads((FIXTURES / "info-akina.json").read_text())

    def go(v: object) -> str:  # how Go's %v prints a value
        if v is None:
            return "<nil>"
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, list):
            return "[" + " ".join(go(x) for x in v) + "]"
        return str(v)

    assert printed == "{" + " ".join(go(v) for v in data.values()) + "}"


def test_session_is_an_index_into_sessiontypes() -> None:
    assert assetto.session_name(0, [1, 3]) == "practice"
    assert assetto.session_name(1, [1, 3]) == "race"
    assert assetto.session_name(1, ["2", "3"]) == "race"  # the lobby's copies: strings
    assert assetto.session_name(2, [1, 3]) == "" and assetto.session_name(None, [1]) == ""


GARBAGE = [b"", b"[]", b"{", b'{"clients": 1}', b'{"clients": "x", "maxclients": 2}',
           b'{"clients": true, "maxclients": 2}']  # fmt: skip


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_in_place_of_info_is_a_malformed_reply(body: bytes) -> None:
    with pytest.raises(MalformedReply):
        assetto.parse_info(body)


def test_the_car_list_gives_the_connected_drivers() -> None:
    raw = json.loads((FIXTURES / "cars-akina.json").read_text())
    assert assetto.drivers(assetto.parse_cars(json.dumps(raw).encode())) == ()
    raw["Cars"][1] |= {"DriverName": "Keiichi", "IsConnected": True}
    cars = assetto.parse_cars(json.dumps(raw).encode())
    assert cars[1] == assetto.Car("ks_toyota_ae86_tuned", "05_white_carbon", "Keiichi", True)
    assert assetto.drivers(cars) == ("Keiichi",)
    with pytest.raises(MalformedReply):
        assetto.parse_cars(b'{"cars": []}')


def test_http_answers_are_split_by_length_or_chunks_and_only_200_counts() -> None:
    ok = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}extra"
    assert assetto.split_response(ok) == b"{}"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n1\r\n \r\n0\r\n\r\n"
    assert assetto.split_response(chunked) == b"{} "
    for bad in (b"HTTP/1.0 404 Not Found\r\n\r\n", b"garbage", b"HTTP/1.0 200 OK\r\n",
                b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n{}"):  # fmt: skip
        with pytest.raises(MalformedReply):
            assetto.split_response(bad)


def test_nothing_listening_is_no_answer() -> None:
    assert query("assetto", free_port(), timeout=0.3) is None


# The join link in the server's output


def test_the_manifests_pattern_finds_every_link_assettoserver_prints() -> None:
    lines = (FIXTURES / "assettoserver-link-lines.log").read_text().splitlines()
    found = [links.find(LINK_RE, line) for line in lines]
    assert found[:2] == [None, None]  # "Registering...", "Lobby registration successful"
    assert found[2:] == [
        "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort=8081",
        "https://acstuff.club/s/q:race/online/join?ip=203.0.113.7&httpPort=8082",
        "https://acstuff.club/s/q:race/online/join?ip=203.0.113.7&httpPort=8083",
        "https://acstuff.club/s/q:race/online/join?ip=203.0.113.7&httpPort=8084",
    ]


def test_a_link_a_player_quotes_in_the_chat_is_not_the_servers() -> None:
    quoted = "https://acstuff.ru/s/q:race/online/join?ip=198.51.100.6&httpPort=1"
    for line in (f"[12:00:01 INF] CHAT: Bob (3): Server invite link: {quoted}",
                 f"CHAT: Bob: {quoted}", f"Invite link: {quoted} | join x"):  # fmt: skip
        assert links.find(LINK_RE, line) is None, line


def test_a_real_kunos_server_start_announces_no_link() -> None:
    for name in ("acserver-1.15-start.log", "acserver-1.15-info-request.log"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            assert links.find(LINK_RE, line) is None, line


def test_the_link_rides_in_the_runners_status_after_the_player_count() -> None:
    link = "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort=8081"
    text = links.compose("players 3/18", link)
    assert text == f"players 3/18 | join {link}" and links.of(text) == link
    assert metrics.players(text) == (3, 18)  # the daemon's player samples still read it
    assert links.of("players 3/18") is None and links.compose("players 1/2", None) == "players 1/2"
    assert links.problem("(") and links.problem("") and links.problem(3) and not links.problem("x")


def test_the_status_line_carries_session_and_map_and_no_name_can_pose_as_a_field() -> None:
    from warlockd.runner_probe import status_line

    line = status_line(2, 18, ["Keiichi", "Bob | join https://x.example"], "race", "ks_monza")
    names = "players 2/18: Keiichi, Bob / join https://x.example"
    assert line == f"{names} | session race | map ks_monza"
    assert links.of(line) is None and links.field(line, "session") == "race"
    assert links.field(line, "map") == "ks_monza"
    link = "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort=8081"
    full = links.compose(line, link)
    assert links.of(full) == link and metrics.players(full) == (2, 18)
    assert metrics.player_names(full) == ["Keiichi", "Bob / join https://x.example"]
    assert status_line(0, 12, []) == "players 0/12"  # other games: as before


def test_a_new_link_is_an_event_saying_the_server_started() -> None:
    link = "https://acstuff.ru/s/q:race/online/join?ip=1.2.3.4&httpPort=8081"
    running = Live("active", "running", status_text="players 0/2")
    with_link = Live("active", "running", status_text=f"players 0/2 | join {link}")
    assert classify(running, with_link) == [("link", f"server started: {link}")]
    assert classify(with_link, with_link) == []
    assert classify(with_link, Live("active", "running", status_text="starting")) == []
    assert classify(None, with_link) == []


# The stand-in, over real sockets


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    ports = {"udp": free_port(), "tcp": free_port(), "http": free_port()}
    (tmp_path / "cfg").mkdir()
    cfg = acpack.server_cfg((ports["udp"], ports["tcp"], ports["http"]))
    (tmp_path / "cfg/server_cfg.ini").write_text(cfg, encoding="utf-8")
    shutil.copy(FIXTURES / "entry_list.ini", tmp_path / "cfg/entry_list.ini")
    (tmp_path / "content").mkdir()
    (tmp_path / "system").mkdir()
    env = dict(os.environ, FAKE_AC_LOBBY_DELAY="0")
    proc = subprocess.Popen([sys.executable, str(acpack.FAKE_SERVER)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield proc, ports
    finally:
        proc.kill()
        proc.wait(timeout=5)


def _answer(port: int) -> QueryResult:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = query("assetto", port, timeout=0.5)
        if got is not None:
            return got
        time.sleep(0.05)
    pytest.fail("the stand-in never answered /INFO")


def test_the_stand_in_answers_info_and_counts_a_driver_by_name(
    standin: tuple[subprocess.Popen[str], dict[str, int]],
) -> None:
    proc, ports = standin
    first = _answer(ports["http"])
    assert first == QueryResult(0, 2, "pk_akina-akina_downhill", (), "akina \u2139" + "18082",
                                "practice")  # fmt: skip
    with socket.create_connection(("127.0.0.1", ports["tcp"])) as driver:
        driver.sendall(b"JOIN Keiichi\n")
        assert driver.recv(16) == b"OK\n"
        got = _answer(ports["http"])
        assert (got.player_count, got.players) == (1, ("Keiichi",))
    deadline = time.monotonic() + 5
    while _answer(ports["http"]).player_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _answer(ports["http"]).player_count == 0
    raw = assetto.get("127.0.0.1", ports["http"], "/JSON|-1", 1.0)
    assert [c.model for c in assetto.parse_cars(raw)] == ["ks_toyota_ae86_tuned"] * 2
    proc.kill()
    out = proc.communicate(timeout=5)[0]
    assert "Assetto Corsa Dedicated Server v1.15" in out
    found = [f for f in (links.find(LINK_RE, line) for line in out.splitlines()) if f]
    assert found == [
        f"https://acstuff.ru/s/q:race/online/join?ip=127.0.0.1&httpPort={ports['http']}"
    ]
