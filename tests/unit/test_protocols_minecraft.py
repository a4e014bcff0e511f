"""Minecraft Server List Ping, on mcstatus's test vectors (recorded in shared/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from warlockd.protocols import MalformedReply, minecraft

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "minecraft-slp"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"recorded fixture {path} not found (shared/ beside the repository)")
    return path.read_bytes()


def status_packet(raw: Any) -> bytes:
    """A status response packet (no length prefix) carrying `raw` as JSON."""
    return b"\x00" + minecraft.pack_string(json.dumps(raw))


def test_the_handshake_is_byte_for_byte_the_one_mcstatus_sends() -> None:
    assert minecraft.handshake("localhost", 25565, protocol=44) == fixture("c2s_handshake.bin")
    assert minecraft.status_request() == fixture("c2s_status_request.bin")


def test_a_status_only_handshake_sends_protocol_minus_one_as_five_bytes() -> None:
    assert minecraft.handshake("h", 1)[2:7] == b"\xff\xff\xff\xff\x0f"


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 25565, 2097151, 2**31 - 1, -1, -(2**31)])
def test_varints_round_trip(value: int) -> None:
    raw = minecraft.pack_varint(value)
    assert minecraft.unpack_varint(raw + b"rest") == (value, len(raw))


def test_a_recorded_status_response_decodes_to_its_json() -> None:
    packet, rest = minecraft.split_frame(fixture("s2c_status_response.bin"))
    status = minecraft.parse_status_packet(packet)
    assert rest == b""
    assert (status.online, status.max_players, status.sample) == (0, 20, ())
    assert (status.description, status.version, status.protocol) == (
        "A Minecraft Server",
        "1.8-pre1",
        44,
    )
    assert json.loads(fixture("status_response_1.8-pre1.json"))["players"] == {
        "max": 20,
        "online": 0,
    }


def test_the_player_sample_gives_names() -> None:
    dicts = json.loads(fixture("mcstatus_test_java_status_dicts.json"))
    raw = dict(
        dicts["TestJavaStatusResponse.RAW"], players=dicts["TestJavaStatusPlayers.build_input"]
    )
    status = minecraft.parse_status_packet(status_packet(raw))
    assert status.sample == ("foo", "bar", "baz")
    assert (status.online, status.max_players, status.description) == (0, 20, "A Minecraft Server")


def test_a_chat_component_description_becomes_plain_text() -> None:
    description = {"text": "§aWelcome ", "extra": [{"text": "to "}, "§lthe §rserver", {"x": 1}]}
    raw = {"players": {"online": 3, "max": 10}, "description": description}
    assert minecraft.parse_status_json(raw).description == "Welcome to the server"


def test_a_status_without_description_is_accepted() -> None:
    assert minecraft.parse_status_json({"players": {"online": 1, "max": 2}}).description == ""


def test_a_deeply_nested_description_does_not_blow_the_stack() -> None:
    description: Any = "deep"
    for _ in range(5000):
        description = {"text": "", "extra": [description]}
    raw = {"players": {"online": 1, "max": 2}, "description": description}
    assert minecraft.parse_status_json(raw).description == ""


@pytest.mark.parametrize(
    "packet",
    [
        bytes.fromhex("00017B"),  # mcstatus: "Received invalid JSON"
        bytes.fromhex("05"),  # mcstatus: "Received invalid status response packet"
        b"\x00" + minecraft.pack_string('{"version": {"name": "x"}}'),  # no players
        b"\x00" + minecraft.pack_string('{"players": {"online": "1", "max": 2}}'),
        b"\x00" + minecraft.pack_string("[]"),
        b"\x00\x20{}",  # string longer than the packet
        b"\x00\xff\xff\xff\xff\xff\xff",  # VarInt over 5 bytes
    ],
)
def test_garbage_status_packets_are_malformed(packet: bytes) -> None:
    with pytest.raises(MalformedReply):
        minecraft.parse_status_packet(packet)


def test_a_frame_longer_than_its_bytes_is_incomplete() -> None:
    with pytest.raises(MalformedReply):
        minecraft.split_frame(fixture("s2c_status_response.bin")[:-1])
