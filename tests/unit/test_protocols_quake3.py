"""Quake III getstatus and rcon: parsing, and rcon against a fake server on real UDP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from warlockd.protocols import MalformedReply, RconError, quake3

# What OpenArena 0.8.8 (Debian's openarena-server, ioq3 1.36) answered to getstatus with
# two bots, recorded on this project's test host; server variables cut after g_needpass.
OPENARENA_STATUS = (
    b"\xff\xff\xff\xffstatusResponse\n"
    b"\\com_protocol\\71\\sv_maxclients\\8\\version\\ioq3 1.36+u20221123.70d07d9+dfsg-1/Debian"
    b" linux-x86_64 Jan  8 2023\\com_gamename\\Quake3Arena\\dmflags\\0\\fraglimit\\20"
    b"\\timelimit\\0\\g_gametype\\0\\mapname\\oa_dm1\\sv_privateClients\\0\\sv_hostname\\noname"
    b"\\sv_minRate\\0\\sv_maxRate\\0\\g_needpass\\0\n"
    b'0 0 "Sarge"\n'
    b'0 0 "Grunt"\n'
)


def test_a_real_openarena_status_decodes_to_map_slots_and_players() -> None:
    status = quake3.parse_status(OPENARENA_STATUS)
    assert (status.info["mapname"], status.info["sv_hostname"], status.max_players) == (
        "oa_dm1",
        "noname",
        8,
    )
    assert status.players == (quake3.Player("Sarge", 0, 0), quake3.Player("Grunt", 0, 0))


def test_an_empty_server_has_no_player_lines() -> None:
    empty = OPENARENA_STATUS.split(b'0 0 "Sarge"')[0]
    assert quake3.parse_status(empty).players == ()


def test_player_names_keep_spaces_and_quotes_inside() -> None:
    reply = b'\xff\xff\xff\xffstatusResponse\n\\mapname\\q3dm17\n-3 48 "^1Mr "X"^7"\n'
    (player,) = quake3.parse_status(reply).players
    assert (player.name, player.score, player.ping) == ('^1Mr "X"^7', -3, 48)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("^1Sarge^7", "Sarge"), ("^^1a", "^a"), ("trailing^", "trailing^"), ("plain", "plain")],
)
def test_colour_codes_are_stripped_as_ioquake3_does(raw: str, clean: str) -> None:
    assert quake3.strip_colors(raw) == clean


@pytest.mark.parametrize(
    "reply",
    [b"", b"\xff\xff\xff\xffprint\nhello", b"statusResponse\n"],
)
def test_other_replies_are_malformed(reply: bytes) -> None:
    with pytest.raises(MalformedReply):
        quake3.parse_status(reply)


def test_a_line_that_is_no_player_is_skipped() -> None:
    assert len(quake3.parse_status(OPENARENA_STATUS + b"nonsense\n").players) == 2


def test_a_dangling_key_is_dropped() -> None:
    assert quake3.parse_info("\\a\\1\\b") == {"a": "1"}


@pytest.mark.parametrize("password", ["", "two words", 'qu"ote'])
def test_an_rcon_password_the_server_cannot_match_is_refused_before_sending(
    password: str,
) -> None:
    with pytest.raises(ValueError):
        quake3.rcon_request(password, "status")


Replies = Callable[[bytes], list[bytes]]


@pytest.fixture
def udp_server() -> Iterator[Callable[[Replies], tuple[int, list[bytes]]]]:
    """Start a UDP server on 127.0.0.1 answering each datagram with replies(datagram)."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(replies: Replies) -> tuple[int, list[bytes]]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        received: list[bytes] = []

        def serve() -> None:
            with sock:
                while not stop.is_set():
                    try:
                        data, peer = sock.recvfrom(65535)
                    except TimeoutError:
                        continue
                    received.append(data)
                    for reply in replies(data):
                        sock.sendto(reply, peer)
                        time.sleep(0.01)  # as a real server, which prints as it goes

        threads.append(threading.Thread(target=serve, daemon=True))
        threads[-1].start()
        return sock.getsockname()[1], received

    yield start
    stop.set()
    for thread in threads:
        thread.join()


def fake_rcon(data: bytes) -> list[bytes]:
    if not data.startswith(b"\xff\xff\xff\xffrcon secret "):
        return [quake3.PRINT_REPLY + b"Bad rconpassword.\n"]
    command = data.split(b" ", 2)[2]
    return [quake3.PRINT_REPLY + b"ran " + command + b"\n", quake3.PRINT_REPLY + b"done\n"]


def test_rcon_collects_every_print_until_the_server_is_quiet(
    udp_server: Callable[[Replies], tuple[int, list[bytes]]],
) -> None:
    port, received = udp_server(fake_rcon)
    output = quake3.rcon("127.0.0.1", port, "secret", "addbot sarge 1", timeout=1.0, quiet=0.2)
    assert output == "ran addbot sarge 1\ndone\n"
    assert received == [b"\xff\xff\xff\xffrcon secret addbot sarge 1"]


def test_rcon_with_a_wrong_password_returns_the_servers_words(
    udp_server: Callable[[Replies], tuple[int, list[bytes]]],
) -> None:
    port, _ = udp_server(fake_rcon)
    assert quake3.rcon("127.0.0.1", port, "nope", "status", timeout=1.0) == "Bad rconpassword.\n"


def test_rcon_without_a_reply_raises_rcon_error_after_the_timeout(
    udp_server: Callable[[Replies], tuple[int, list[bytes]]],
) -> None:
    port, received = udp_server(lambda data: [])
    started = time.monotonic()
    with pytest.raises(RconError, match="no rcon reply"):
        quake3.rcon("127.0.0.1", port, "secret", "status", timeout=0.3)
    assert time.monotonic() - started < 0.6
    assert len(received) == 1
