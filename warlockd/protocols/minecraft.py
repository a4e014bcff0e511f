"""Minecraft Java Edition's Server List Ping (1.7 and later) over TCP.

Handshake (next state 1 = status), then a status request; the server answers one
packet holding JSON: `players.online`, `players.max`, an optional `players.sample` of
names, `description` (a string or a chat component), `version`. Every packet is a
VarInt length, a VarInt packet id, then fields; strings are VarInt length + UTF-8.
Layout: https://minecraft.wiki/w/Java_Edition_protocol/Server_List_Ping
"""

from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import dataclass

from . import MalformedReply

ANY_VERSION = -1  # by convention, a client that only pings sends protocol -1
NEXT_STATE_STATUS = 1
MAX_PACKET = 1 << 21  # the protocol's own limit (a 3-byte VarInt); favicons fit
MAX_DEPTH = 32  # chat components nest; a hostile server should not blow the stack


@dataclass(frozen=True)
class Status:
    online: int
    max_players: int
    sample: tuple[str, ...]  # some names (servers send up to 12, or none)
    description: str  # the MOTD as plain text
    version: str
    protocol: int


def pack_varint(value: int) -> bytes:
    value &= 0xFFFFFFFF  # negatives go as their 32-bit two's complement (5 bytes)
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def unpack_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """-> (value, position after it); MalformedReply when truncated or over 5 bytes."""
    value = 0
    for shift in range(0, 35, 7):
        if pos >= len(data):
            raise MalformedReply("VarInt truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value - (1 << 32) if value & 0x80000000 else value), pos
    raise MalformedReply("VarInt longer than 5 bytes")


def pack_string(text: str) -> bytes:
    raw = text.encode()
    return pack_varint(len(raw)) + raw


def frame(packet_id: int, body: bytes = b"") -> bytes:
    inner = pack_varint(packet_id) + body
    return pack_varint(len(inner)) + inner


def handshake(host: str, port: int, protocol: int = ANY_VERSION) -> bytes:
    body = pack_varint(protocol) + pack_string(host) + struct.pack(">H", port)
    return frame(0x00, body + pack_varint(NEXT_STATE_STATUS))


def status_request() -> bytes:
    return frame(0x00)


def split_frame(data: bytes) -> tuple[bytes, bytes]:
    """`length + packet + more` -> (packet, more)."""
    length, pos = unpack_varint(data)
    if not 0 < length <= MAX_PACKET or len(data) < pos + length:
        raise MalformedReply(f"bad or incomplete packet of length {length}")
    return data[pos : pos + length], data[pos + length :]


def parse_status_packet(packet: bytes) -> Status:
    """A status response packet (id and string, without the length) -> Status."""
    packet_id, pos = unpack_varint(packet)
    if packet_id != 0x00:
        raise MalformedReply(f"expected a status response, got packet {packet_id:#x}")
    length, pos = unpack_varint(packet, pos)
    if length < 0 or len(packet) < pos + length:
        raise MalformedReply("status string truncated")
    try:
        raw = json.loads(packet[pos : pos + length].decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedReply("status is not JSON") from None
    return parse_status_json(raw)


def parse_status_json(raw: object) -> Status:
    if not isinstance(raw, dict):
        raise MalformedReply("status JSON is not an object")
    players, version = raw.get("players"), raw.get("version", {})
    if not isinstance(players, dict) or not isinstance(version, dict):
        raise MalformedReply("status JSON lacks players")
    online, max_players = players.get("online"), players.get("max")
    if not isinstance(online, int) or not isinstance(max_players, int):
        raise MalformedReply("players.online and players.max must be numbers")
    sample = players.get("sample")
    entries = sample if isinstance(sample, list) else []
    names = tuple(
        p["name"] for p in entries if isinstance(p, dict) and isinstance(p.get("name"), str)
    )
    protocol = version.get("protocol")
    return Status(
        online=online,
        max_players=max_players,
        sample=names,
        description=strip_formatting(flatten(raw.get("description", ""))),
        version=str(version.get("name", "")),
        protocol=protocol if isinstance(protocol, int) else 0,
    )


def flatten(component: object, depth: int = 0) -> str:
    """A chat component (string, {"text", "extra"} object, or list) -> its text."""
    if depth > MAX_DEPTH:
        return ""
    if isinstance(component, str):
        return component
    if isinstance(component, list):
        return "".join(flatten(c, depth + 1) for c in component)
    if isinstance(component, dict):
        text = component.get("text", "")
        return (text if isinstance(text, str) else "") + flatten(
            component.get("extra", []), depth + 1
        )
    return ""


def strip_formatting(text: str) -> str:
    """Drop legacy `§` colour and style codes (`§` and the character after it)."""
    parts = text.split("§")
    return parts[0] + "".join(p[1:] for p in parts[1:])


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("status reply incomplete")
        sock.settimeout(remaining)
        chunk = sock.recv(min(n - len(buf), 65536))
        if not chunk:
            raise MalformedReply("server closed the connection mid-reply")
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket, deadline: float) -> bytes:
    head = b""
    while not head or head[-1] & 0x80:  # the VarInt length, one byte at a time
        if len(head) >= 5:
            raise MalformedReply("VarInt longer than 5 bytes")
        head += _recv_exact(sock, 1, deadline)
    length, _ = unpack_varint(head)
    if not 0 < length <= MAX_PACKET:
        raise MalformedReply(f"bad packet length {length}")
    return _recv_exact(sock, length, deadline)


def status(host: str, port: int, timeout: float = 0.5) -> Status:
    """Ping; raises OSError (no answer, or slower than `timeout` in all) or MalformedReply."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(handshake(host, port) + status_request())
        return parse_status_packet(_recv_frame(sock, deadline))
