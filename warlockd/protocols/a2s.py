"""Valve's A2S server queries over UDP (Source, GoldSrc, and most Steam games).

A2S_INFO (`T`) gives name, map and player counts; A2S_PLAYER (`U`) the names. Since
2020 servers may answer either request with S2C_CHALLENGE (`A` + 4 bytes) and expect
the request again with those bytes appended. Replies too big for one datagram come
split (`FE FF FF FF` header); we reassemble the Source layout, not bzip2-compressed
payloads (engines before 2007) nor GoldSrc's split layout. Integers are little-endian,
strings NUL-terminated. Layout: https://developer.valvesoftware.com/wiki/Server_queries
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable
from typing import NamedTuple

from . import MalformedReply

SINGLE = b"\xff\xff\xff\xff"
SPLIT = b"\xfe\xff\xff\xff"
INFO_REQUEST = SINGLE + b"TSource Engine Query\x00"
PLAYER_REQUEST = SINGLE + b"U"
NO_CHALLENGE = b"\xff\xff\xff\xff"  # asks a server for a challenge
CHALLENGE, INFO, INFO_GOLDSRC, PLAYERS = b"A", b"I", b"m", b"D"
MAX_CHALLENGES = 5  # a server that keeps sending new challenges is broken, not slow
THE_SHIP = 2400  # its INFO reply carries three extra bytes


class Reader:
    """A cursor over a reply; running off the end is a MalformedReply, not a crash."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _unpack(self, fmt: str) -> int | float:
        try:
            (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        except struct.error:
            raise MalformedReply(f"reply truncated at byte {self.pos}") from None
        self.pos += struct.calcsize(fmt)
        number: int | float = value
        return number

    def u8(self) -> int:
        return int(self._unpack("B"))

    def u16(self) -> int:
        return int(self._unpack("H"))

    def i32(self) -> int:
        return int(self._unpack("i"))

    def u64(self) -> int:
        return int(self._unpack("Q"))

    def f32(self) -> float:
        return float(self._unpack("f"))

    def char(self) -> str:
        return chr(self.u8()).rstrip("\x00")

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise MalformedReply(f"reply truncated at byte {self.pos}")
        self.pos += n

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise MalformedReply(f"unterminated string at byte {self.pos}")
        # names carry whatever bytes players typed; replacing beats failing
        text = self.data[self.pos : end].decode("utf-8", "replace")
        self.pos = end + 1
        return text

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


class Info(NamedTuple):
    protocol: int
    name: str
    map: str
    folder: str
    game: str
    app_id: int
    players: int  # bots included
    max_players: int
    bots: int
    server_type: str  # d dedicated, l listen, p SourceTV ("" when a game sends 0)
    environment: str  # l Linux, w Windows, m/o macOS
    password: bool
    vac: bool
    version: str = ""
    port: int | None = None
    steam_id: int | None = None
    keywords: str = ""
    game_id: int | None = None


class Player(NamedTuple):
    name: str  # "" while a client is still connecting
    score: int
    duration: float  # seconds connected


class Fragment(NamedTuple):
    message_id: int
    total: int
    number: int
    payload: bytes


def parse_challenge(payload: bytes) -> bytes:
    """`A` + 4 bytes -> the 4 bytes, to be sent back as received."""
    if payload[:1] != CHALLENGE or len(payload) < 5:
        raise MalformedReply("not a challenge")
    return payload[1:5]


def parse_info(payload: bytes) -> Info:
    """An A2S_INFO reply without its FF FF FF FF header, Source (`I`) or GoldSrc (`m`)."""
    if payload[:1] == INFO_GOLDSRC:
        return parse_goldsrc_info(payload)
    if payload[:1] != INFO:
        raise MalformedReply("not an A2S_INFO reply")
    r = Reader(payload[1:])
    protocol = r.u8()
    name, map_, folder, game = r.string(), r.string(), r.string(), r.string()
    app_id, players, max_players, bots = r.u16(), r.u8(), r.u8(), r.u8()
    server_type, environment, password, vac = r.char(), r.char(), r.u8(), r.u8()
    if app_id == THE_SHIP:
        r.skip(3)  # mode, witnesses, duration
    version = r.string()
    port = steam_id = game_id = None
    keywords = ""
    edf = 0 if r.at_end() else r.u8()  # "extra data flags", each adding a field
    if edf & 0x80:
        port = r.u16()
    if edf & 0x10:
        steam_id = r.u64()
    if edf & 0x40:
        r.u16()  # SourceTV port
        r.string()  # SourceTV name
    if edf & 0x20:
        keywords = r.string()
    if edf & 0x01:
        game_id = r.u64()
    return Info(
        protocol=protocol,
        name=name,
        map=map_,
        folder=folder,
        game=game,
        app_id=app_id,
        players=players,
        max_players=max_players,
        bots=bots,
        server_type=server_type,
        environment=environment,
        password=bool(password),
        vac=bool(vac),
        version=version,
        port=port,
        steam_id=steam_id,
        keywords=keywords,
        game_id=game_id,
    )


def parse_goldsrc_info(payload: bytes) -> Info:
    """The obsolete `m` reply some Half-Life 1 servers still send."""
    r = Reader(payload[1:])
    r.string()  # the server's own idea of its address
    name, map_, folder, game = r.string(), r.string(), r.string(), r.string()
    players, max_players, protocol = r.u8(), r.u8(), r.u8()
    server_type, environment, password = r.char().lower(), r.char().lower(), r.u8()
    if r.u8():  # a mod: link, download link, NUL, version, size, type, dll
        r.string()
        r.string()
        r.skip(1 + 4 + 4 + 1 + 1)
    vac, bots = r.u8(), r.u8()
    return Info(
        protocol=protocol,
        name=name,
        map=map_,
        folder=folder,
        game=game,
        app_id=0,  # GoldSrc's reply has none
        players=players,
        max_players=max_players,
        bots=bots,
        server_type=server_type,
        environment=environment,
        password=bool(password),
        vac=bool(vac),
    )


def parse_players(payload: bytes) -> tuple[Player, ...]:
    """An A2S_PLAYER reply without its FF FF FF FF header."""
    if payload[:1] != PLAYERS:
        raise MalformedReply("not an A2S_PLAYER reply")
    r = Reader(payload[1:])
    players = []
    for _ in range(r.u8()):
        r.u8()  # index: 0 for everyone on many servers, so useless
        name = r.string()
        players.append(Player(name, score=r.i32(), duration=r.f32()))
    return tuple(players)


def parse_fragment(datagram: bytes) -> Fragment:
    """One datagram of a split reply, Source layout."""
    if not datagram.startswith(SPLIT):
        raise MalformedReply("not a split packet")
    r = Reader(datagram[4:])
    message_id, total, number = r.i32(), r.u8(), r.u8()
    r.u16()  # the sender's maximum packet size
    if message_id < 0:  # the high bit of the id flags compression
        raise MalformedReply("bzip2-compressed split replies are not supported")
    if not 0 <= number < total:
        raise MalformedReply(f"split packet {number} of {total}")
    return Fragment(message_id, total, number, datagram[4 + r.pos :])


def reassemble(fragments: Iterable[Fragment]) -> bytes:
    """All fragments of one message -> its payload after the FF FF FF FF header."""
    ordered = sorted(fragments, key=lambda f: f.number)
    if not ordered or [f.number for f in ordered] != list(range(ordered[0].total)):
        raise MalformedReply("split reply incomplete")
    message = b"".join(f.payload for f in ordered)
    if not message.startswith(SINGLE):
        raise MalformedReply("reassembled reply lacks its header")
    return message[4:]


def receive(sock: socket.socket, timeout: float) -> bytes:
    """The next whole reply (split or not), without its header; TimeoutError if none."""
    deadline = time.monotonic() + timeout
    pending: dict[int, dict[int, Fragment]] = {}
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("A2S reply incomplete")
        sock.settimeout(remaining)
        datagram = sock.recv(65535)
        if datagram.startswith(SINGLE):
            return datagram[4:]
        fragment = parse_fragment(datagram)
        parts = pending.setdefault(fragment.message_id, {})
        parts[fragment.number] = fragment  # a duplicate datagram just overwrites
        if len(parts) == fragment.total:
            return reassemble(parts.values())


def ask(sock: socket.socket, request: bytes, challenge: bytes, timeout: float) -> bytes:
    """Send `request` + `challenge`; follow S2C_CHALLENGE replies; return the answer."""
    for _ in range(MAX_CHALLENGES):
        sock.send(request + challenge)
        reply = receive(sock, timeout)
        if reply[:1] != CHALLENGE:
            return reply
        challenge = parse_challenge(reply)
    raise MalformedReply(f"still challenged after {MAX_CHALLENGES} tries")


def status(host: str, port: int, timeout: float = 0.5) -> tuple[Info, tuple[Player, ...]]:
    """A2S_INFO, then A2S_PLAYER; raises OSError (no answer) or MalformedReply.

    `timeout` bounds each reply. The player list is best-effort: some games turn
    A2S_PLAYER off, and the counts from A2S_INFO are what matters."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # connected: replies from other addresses are dropped, and an ICMP refusal
        # ends the wait at once instead of after the timeout
        sock.connect((host, port))
        info = parse_info(ask(sock, INFO_REQUEST, b"", timeout))
        try:
            players = parse_players(ask(sock, PLAYER_REQUEST, NO_CHALLENGE, timeout))
        except (OSError, MalformedReply):
            players = ()
    return info, players
