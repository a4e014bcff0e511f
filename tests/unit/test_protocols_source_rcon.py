"""Source RCON: packets from python-valve's tests, and a fake SRCDS on a real TCP socket."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warlockd.protocols import MalformedReply, RconError
from warlockd.protocols.source_rcon import (
    AUTH,
    AUTH_RESPONSE,
    EXECCOMMAND,
    RESPONSE_VALUE,
    TERMINATOR,
    Packet,
    Response,
    SourceRcon,
    decode,
    encode,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "source-rcon"
PASSWORD = "s3cret"


def recorded(start: str) -> bytes:
    """A python-valve test packet, by the start of its description."""
    path = FIXTURES / "python_valve_rcon_packets.json"
    if not path.is_file():
        pytest.skip(f"recorded fixture {path} not found (shared/ beside the repository)")
    packets = json.loads(path.read_text())["packets"]
    return bytes.fromhex(next(p["hex"] for p in packets if p["what"].startswith(start)))


def test_a_command_packet_encodes_to_the_recorded_bytes() -> None:
    assert encode(Packet(0, EXECCOMMAND, b"foo")) == recorded("test_encode")


def test_decoding_leaves_the_bytes_of_the_next_packet() -> None:
    assert decode(recorded("test_decode")) == (
        Packet(0, EXECCOMMAND, b"foo"),
        bytes.fromhex("aabbccddeeff"),
    )


def test_a_packet_split_across_reads_decodes_once_whole() -> None:
    auth_response = recorded("test_feed_incomplete")
    assert decode(auth_response[:5]) is None
    assert decode(auth_response) == (Packet(0, AUTH_RESPONSE, b""), b"")


def test_a_size_field_beyond_the_data_is_incomplete_and_a_tiny_one_malformed() -> None:
    assert decode(b"\xff\x00\x00\x00") is None
    with pytest.raises(MalformedReply):
        decode(b"\x02\x00\x00\x00\x00\x00")


def test_a_multi_packet_response_is_joined_up_to_the_terminator() -> None:
    part, empty, end = (
        recorded(w)
        for w in ("test_multi_part_response: " + s for s in ("part", "empty", "terminator"))
    )
    stream = part + part + empty + end
    response = Response(command_id=5, sentinel_id=5)  # python-valve reuses the id
    while not response.done:
        decoded = decode(stream)
        assert decoded is not None
        packet, stream = decoded
        response.feed(packet)
    assert (response.text(), stream) == ("barbar", b"")
    assert decode(end) == (Packet(5, RESPONSE_VALUE, TERMINATOR), b"")


def test_late_packets_of_an_earlier_command_are_not_taken() -> None:
    response = Response(command_id=7, sentinel_id=8)
    assert not response.feed(Packet(6, RESPONSE_VALUE, TERMINATOR))  # previous sentinel's
    assert not response.feed(Packet(7, RESPONSE_VALUE, b"ok"))
    assert response.feed(Packet(8, RESPONSE_VALUE, b"Unknown request 0"))  # a Minecraft echo
    assert response.text() == "ok"


class FakeSrcds:
    """A real TCP server on 127.0.0.1 that speaks RCON like SRCDS, one client at a time.

    `mode`: "srcds" (empty RESPONSE_VALUE before the auth verdict, echo + terminator
    after a sentinel), "minecraft" (no pre-auth packet, the sentinel answered with a
    text and no terminator), "silent" (authenticates, then never answers), "banned"
    (hangs up at once)."""

    def __init__(self, mode: str = "srcds") -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.commands: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                if self.mode != "banned":
                    self.talk(conn)

    def talk(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buffer = b""
        while not self.stop.is_set():
            while (decoded := decode(buffer)) is not None:
                packet, buffer = decoded
                conn.sendall(b"".join(encode(p) for p in self.answer(packet)))
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return
            buffer += chunk

    def answer(self, packet: Packet) -> list[Packet]:
        if packet.type == AUTH:
            verdict = packet.id if packet.body == PASSWORD.encode() else -1
            before = [Packet(packet.id, RESPONSE_VALUE)] if self.mode == "srcds" else []
            return [*before, Packet(verdict, AUTH_RESPONSE)]
        if self.mode == "silent":
            return []
        if packet.type == EXECCOMMAND:
            self.commands.append(packet.body.decode())
            if packet.body == b"cvarlist":  # long output: SRCDS splits it at 4 KB
                return [
                    Packet(packet.id, RESPONSE_VALUE, b"x" * 4000 + b"%d\n" % i) for i in range(3)
                ]
            return [Packet(packet.id, RESPONSE_VALUE, b"echo: " + packet.body)]
        if self.mode == "minecraft":
            return [Packet(packet.id, RESPONSE_VALUE, b"Unknown request 0")]
        return [Packet(packet.id, RESPONSE_VALUE), Packet(packet.id, RESPONSE_VALUE, TERMINATOR)]

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture
def srcds() -> Iterator[Callable[..., FakeSrcds]]:
    servers: list[FakeSrcds] = []

    def start(mode: str = "srcds") -> FakeSrcds:
        servers.append(FakeSrcds(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("mode", ["srcds", "minecraft"])
def test_commands_run_after_authentication(srcds: Callable[..., FakeSrcds], mode: str) -> None:
    server = srcds(mode)
    with SourceRcon("127.0.0.1", server.port, PASSWORD, timeout=2.0) as rcon:
        assert rcon.command("status") == "echo: status"
        assert rcon.command("say hi") == "echo: say hi"  # the old terminator is not taken
    assert server.commands == ["status", "say hi"]


def test_a_multi_packet_response_is_joined(srcds: Callable[..., FakeSrcds]) -> None:
    server = srcds()
    with SourceRcon("127.0.0.1", server.port, PASSWORD, timeout=2.0) as rcon:
        output = rcon.command("cvarlist")
        assert output == "".join("x" * 4000 + f"{i}\n" for i in range(3))
        assert rcon.command("next") == "echo: next"


def test_a_wrong_password_raises_a_clear_rcon_error(srcds: Callable[..., FakeSrcds]) -> None:
    server = srcds()
    rcon = SourceRcon("127.0.0.1", server.port, "wrong", timeout=2.0)
    with pytest.raises(RconError, match="refused the password"):
        rcon.command("status")
    assert server.commands == []
    assert isinstance(RconError("x"), ConnectionError)


def test_a_server_that_hangs_up_raises_rcon_error(srcds: Callable[..., FakeSrcds]) -> None:
    server = srcds("banned")
    with pytest.raises(RconError, match="hung up"):
        SourceRcon("127.0.0.1", server.port, PASSWORD, timeout=2.0).connect()


def test_a_server_that_never_answers_raises_rcon_error_after_the_timeout(
    srcds: Callable[..., FakeSrcds],
) -> None:
    server = srcds("silent")
    with SourceRcon("127.0.0.1", server.port, PASSWORD, timeout=0.3) as rcon:
        started = time.monotonic()
        with pytest.raises(RconError, match="no reply within"):
            rcon.command("status")
        assert time.monotonic() - started < 1.0


def test_nothing_listening_raises_rcon_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(RconError, match="cannot reach"):
            SourceRcon("127.0.0.1", port, PASSWORD, timeout=1.0).connect()
