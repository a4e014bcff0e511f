"""query(): every protocol end to end against small fake servers on real 127.0.0.1 sockets."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warlockd.protocols import MalformedReply, minecraft
from warlockd.query import QUERY_PROTOCOLS, QueryResult, query

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CHALLENGE = bytes.fromhex("0a085eea")
Handler = Callable[[bytes], list[bytes]]


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"recorded fixture {path} not found (shared/ beside the repository)")
    return path.read_bytes()


def exchange(step: str) -> bytes:
    packets = json.loads(fixture("a2s/a2squery_mock_exchange.json"))["packets"]
    return bytes.fromhex(next(p["hex"] for p in packets if p["step"].startswith(step)))


def split(message: bytes, size: int, message_id: int = 0x1234) -> list[bytes]:
    """`message` as Source split datagrams (FE FF FF FF, id, total, number, size)."""
    chunks = [message[i : i + size] for i in range(0, len(message), size)]
    head = b"\xfe\xff\xff\xff" + struct.pack("<i", message_id)
    return [head + struct.pack("<BBH", len(chunks), n, size) + c for n, c in enumerate(chunks)]


class Servers:
    """Fake servers on 127.0.0.1, each a thread around a real socket; stopped at teardown."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def run(self, target: Callable[[], None]) -> None:
        self.threads.append(threading.Thread(target=target, daemon=True))
        self.threads[-1].start()

    def udp(self, handler: Handler) -> tuple[int, list[bytes]]:
        """Answer every datagram with handler(datagram); returns (port, datagrams seen)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        seen: list[bytes] = []

        def serve() -> None:
            with sock:
                while not self.stop.is_set():
                    try:
                        data, peer = sock.recvfrom(65535)
                    except TimeoutError:
                        continue
                    seen.append(data)
                    for reply in handler(data):
                        sock.sendto(reply, peer)

        self.run(serve)
        return sock.getsockname()[1], seen

    def tcp(self, reply: bytes | None) -> tuple[int, list[bytes]]:
        """Read a handshake and a status request, then send `reply` (None: stay silent)."""
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.05)
        seen: list[bytes] = []

        def serve() -> None:
            with listener:
                while not self.stop.is_set():
                    try:
                        conn, _ = listener.accept()
                    except TimeoutError:
                        continue
                    with conn:
                        seen.append(read_two_frames(conn, self.stop))
                        if reply is not None:
                            conn.sendall(reply)
                        while reply is None and not self.stop.wait(0.05):
                            pass

        self.run(serve)
        return listener.getsockname()[1], seen

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def read_two_frames(conn: socket.socket, stop: threading.Event) -> bytes:
    conn.settimeout(0.05)
    data = b""
    while not stop.is_set():
        try:
            _, rest = minecraft.split_frame(data)
            minecraft.split_frame(rest)
            return data
        except MalformedReply:
            pass
        try:
            data += conn.recv(4096)
        except TimeoutError:
            continue
    return data


@pytest.fixture
def servers() -> Iterator[Servers]:
    s = Servers()
    yield s
    s.close()


# --- the API -----------------------------------------------------------------------


def test_the_protocols_an_app_may_name_are_listed() -> None:
    assert QUERY_PROTOCOLS == ("none", "warlock-status", "quake3", "a2s", "minecraft", "assetto")


def test_none_and_unknown_protocols_answer_none_without_asking() -> None:
    assert query("none", 1) is None
    assert query("gamespy", 1) is None


def test_names_and_server_name_default_to_empty() -> None:
    assert QueryResult(1, 8) == QueryResult(1, 8, "", (), "", "")


def test_the_example_servers_status_still_works(servers: Servers) -> None:
    port, _ = servers.udp(lambda d: [b'\xffSTATUS\n{"players": 2, "max_players": 4, "map": "m"}'])
    assert query("warlock-status", port) == QueryResult(2, 4, "m")


# --- quake3 --------------------------------------------------------------------------


def test_quake3_counts_bots_and_strips_colour_codes(servers: Servers) -> None:
    reply = (
        b"\xff\xff\xff\xffstatusResponse\n\\sv_maxclients\\8\\mapname\\oa_dm1"
        b"\\sv_hostname\\^1My ^7Arena\n"
        b'3 0 "^1Sarge^7"\n0 48 "Grunt"\n'
    )
    port, seen = servers.udp(lambda d: [reply] if d == b"\xff\xff\xff\xffgetstatus" else [])
    result = query("quake3", port)
    assert result == QueryResult(2, 8, "oa_dm1", ("Sarge", "Grunt"), "My Arena")
    assert seen == [b"\xff\xff\xff\xffgetstatus"]


# --- a2s -----------------------------------------------------------------------------


def a2s_server(info: list[bytes], players: list[bytes], challenge: bool = True) -> Handler:
    """Answers like a2squery's mock: a challenge first (when `challenge`), then the reply."""
    refusal = [b"\xff\xff\xff\xffA" + CHALLENGE]

    def handle(data: bytes) -> list[bytes]:
        kind, tail = data[4:5], data[-4:]
        if kind == b"T":
            return info if not challenge or tail == CHALLENGE else refusal
        if kind == b"U":
            return players if not challenge or tail == CHALLENGE else refusal
        return []

    return handle


def test_a2s_follows_the_challenge_for_info_and_players(servers: Servers) -> None:
    info, players = exchange("A2S_INFO response, Source"), exchange("A2S_PLAYER response")
    port, seen = servers.udp(a2s_server([info], [players]))
    result = query("a2s", port)
    assert result == QueryResult(
        39, 55, "Map Name", ("Player 0", "Player 1", "Player 2", "Player 3"), "Server Name"
    )
    assert seen == [
        b"\xff\xff\xff\xffTSource Engine Query\x00",  # no placeholder, as python-a2s
        exchange("A2S_INFO request with challenge"),
        exchange("A2S_PLAYER request with -1 challenge"),
        exchange("A2S_PLAYER request with challenge"),
    ]


def test_a2s_without_challenge_answers_at_once(servers: Servers) -> None:
    info = fixture("a2s/libssq-dgram/info/css.bin")
    players = fixture("a2s/libssq-dgram/player/example_0.bin")
    port, seen = servers.udp(a2s_server([info], [players], challenge=False))
    result = query("a2s", port)
    assert result is not None
    assert (result.player_count, result.max_players, result.map) == (5, 16, "de_dust")
    assert result.players == ("[D]---->T.N.W<----", "Killer !!!")
    assert len(seen) == 2


def test_a2s_reassembles_split_replies(servers: Servers) -> None:
    info = split(fixture("a2s/libssq-dgram/info/tf2.bin"), size=100)
    players = split(exchange("A2S_PLAYER response"), size=30, message_id=7)
    assert len(info) > 2 and len(players) > 2
    port, _ = servers.udp(a2s_server(info[::-1], players))
    result = query("a2s", port)
    assert result is not None
    assert (result.player_count, result.max_players) == (32, 32)
    assert result.map == "pl_badwater_pro_v12_skial"
    assert result.players == ("Player 0", "Player 1", "Player 2", "Player 3")


def test_a2s_without_a_player_list_still_counts(servers: Servers) -> None:
    port, _ = servers.udp(a2s_server([exchange("A2S_INFO response, Source")], []))
    result = query("a2s", port, timeout=0.2)
    assert result is not None
    assert (result.player_count, result.players) == (39, ())


def test_a2s_skips_players_still_connecting(servers: Servers) -> None:
    players = b"\xff\xff\xff\xffD\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01bob\x00" + bytes(8)
    port, _ = servers.udp(a2s_server([exchange("A2S_INFO response, Source")], [players]))
    result = query("a2s", port)
    assert result is not None and result.players == ("bob",)


def test_a2s_gives_up_on_endless_challenges(servers: Servers) -> None:
    port, seen = servers.udp(lambda d: [b"\xff\xff\xff\xffA" + bytes([len(d)]) * 4])
    assert query("a2s", port) is None
    assert len(seen) == 5


# --- minecraft -----------------------------------------------------------------------


def test_minecraft_pings_with_handshake_and_status_request(servers: Servers) -> None:
    port, seen = servers.tcp(fixture("minecraft-slp/s2c_status_response.bin"))
    assert query("minecraft", port) == QueryResult(0, 20, "", (), "A Minecraft Server")
    handshake, rest = minecraft.split_frame(seen[0])
    assert handshake[:6] == b"\x00\xff\xff\xff\xff\x0f"  # status-only protocol -1
    assert handshake[6:].startswith(minecraft.pack_string("127.0.0.1") + struct.pack(">H", port))
    assert handshake.endswith(b"\x01")  # next state: status
    assert rest == fixture("minecraft-slp/c2s_status_request.bin")


def test_minecraft_reports_the_player_sample(servers: Servers) -> None:
    dicts = json.loads(fixture("minecraft-slp/mcstatus_test_java_status_dicts.json"))
    raw = {"players": dict(dicts["TestJavaStatusPlayers.build_input"], online=3), "description": ""}
    port, _ = servers.tcp(minecraft.frame(0, minecraft.pack_string(json.dumps(raw))))
    result = query("minecraft", port)
    assert result == QueryResult(3, 20, "", ("foo", "bar", "baz"), "")


# --- no answer, late answer, garbage: always None, never an exception -----------------

UDP_PROTOCOLS = ["warlock-status", "quake3", "a2s"]


@pytest.mark.parametrize("protocol", [*UDP_PROTOCOLS, "minecraft"])
def test_a_silent_server_gives_none_after_the_timeout(servers: Servers, protocol: str) -> None:
    if protocol == "minecraft":
        port, _ = servers.tcp(None)
    else:
        port, _ = servers.udp(lambda d: [])
    started = time.monotonic()
    assert query(protocol, port, timeout=0.2) is None
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("protocol", [*UDP_PROTOCOLS, "minecraft"])
def test_nothing_listening_gives_none_at_once(protocol: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp.bind(("127.0.0.1", port))  # bound, not listening: connections refused
        udp.close()  # now datagrams to it draw an ICMP refusal
        started = time.monotonic()
        assert query(protocol, port, timeout=2.0) is None
        assert time.monotonic() - started < 1.0


GARBAGE = [
    b"",
    b"hello",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\xffI\x11trunc",
    b"\xff\xff\xff\xffstatusResponse",
    b"\xfe\xff\xff\xff\x01\x00\x00\x00\x00\x00",  # a split packet "0 of 0"
    b"\xfe\xff\xff\xff\x01\x00\x00\x80\x02\x00\xe0\x04xx",  # compressed
    b"\xffSTATUS\n{not json",
]


@pytest.mark.parametrize("protocol", UDP_PROTOCOLS)
@pytest.mark.parametrize("reply", GARBAGE)
def test_garbage_over_udp_gives_none(servers: Servers, protocol: str, reply: bytes) -> None:
    port, _ = servers.udp(lambda d: [reply])
    assert query(protocol, port, timeout=0.2) is None


@pytest.mark.parametrize(
    "reply",
    [b"hello world", b"\x03\x00\x01{", b"\xff\xff\xff\xff\xff\xff", b"\x05\x00", b"\x7f\x00\x7e"],
)
def test_garbage_over_tcp_gives_none(servers: Servers, reply: bytes) -> None:
    port, _ = servers.tcp(reply)
    assert query("minecraft", port, timeout=0.3) is None
