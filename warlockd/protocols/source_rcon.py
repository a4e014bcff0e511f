"""Valve's Source RCON over TCP (SRCDS; also Minecraft, ARK, Palworld and others).

Each packet: int32 size (of what follows), int32 id, int32 type, body, NUL, NUL, all
little-endian. The client authenticates (type 3) and the server answers an
AUTH_RESPONSE (type 2) echoing the id, or id -1 for a wrong password; SRCDS sends an
empty RESPONSE_VALUE before it. A command (EXECCOMMAND, type 2) may be answered by
several RESPONSE_VALUE packets (type 0) and nothing marks the last one, so after each
command we send an empty RESPONSE_VALUE with a new id: servers answer in order, so its
echo closes the output (SRCDS then adds a packet with body 00 01 00 00).
Layout: https://developer.valvesoftware.com/wiki/Source_RCON_Protocol
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from types import TracebackType

from . import MalformedReply, RconError

AUTH = 3
AUTH_RESPONSE = 2
EXECCOMMAND = 2
RESPONSE_VALUE = 0
TERMINATOR = b"\x00\x01\x00\x00"  # SRCDS's extra reply to an empty RESPONSE_VALUE
MIN_SIZE = 10  # id + type + two NULs
MAX_SIZE = 1 << 20  # SRCDS sends at most 4 KB; anything near this is not RCON
BAD_PASSWORD_ID = -1


@dataclass(frozen=True)
class Packet:
    id: int
    type: int
    body: bytes = b""


def encode(packet: Packet) -> bytes:
    size = MIN_SIZE + len(packet.body)
    return struct.pack("<iii", size, packet.id, packet.type) + packet.body + b"\x00\x00"


def decode(buffer: bytes) -> tuple[Packet, bytes] | None:
    """The first packet in `buffer` and the bytes after it; None until it is whole."""
    if len(buffer) < 4:
        return None
    (size,) = struct.unpack_from("<i", buffer)
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise MalformedReply(f"RCON packet size {size}")
    if len(buffer) < 4 + size:
        return None
    packet_id, packet_type = struct.unpack_from("<ii", buffer, 4)
    # the body ends at the first of the two trailing NULs; servers differ on the rest
    return Packet(packet_id, packet_type, buffer[12 : 4 + size - 2]), buffer[4 + size :]


class Response:
    """Gathers the packets answering one command, until its sentinel comes back."""

    def __init__(self, command_id: int, sentinel_id: int) -> None:
        self.command_id = command_id
        self.sentinel_id = sentinel_id
        self.parts: list[bytes] = []
        self.done = False

    def feed(self, packet: Packet) -> bool:
        """Take one packet; True once the response is complete."""
        if packet.body == TERMINATOR and packet.id in (self.command_id, self.sentinel_id):
            self.done = True
        elif packet.id == self.sentinel_id != self.command_id:
            self.done = True  # the echo; servers other than SRCDS send no terminator
        elif packet.id == self.command_id and packet.type == RESPONSE_VALUE:
            self.parts.append(packet.body)
        # anything else is late output of an earlier command: not ours
        return self.done

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "replace")


class SourceRcon:
    """One authenticated RCON connection; use it as a context manager.

    Every failure is an RconError (a ConnectionError): wrong password, no reply within
    `timeout`, the server hanging up (it does so for banned addresses), or bytes that
    are not RCON. The connection is closed after any failure."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.password = password
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._last_id = 0

    def __enter__(self) -> SourceRcon:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        if self._sock is not None:
            return
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise RconError(f"cannot reach RCON at {self.host}:{self.port}: {e}") from e
        auth_id = self._new_id()
        self._send(Packet(auth_id, AUTH, self.password.encode()))
        while True:
            packet = self._read("answer to the password")
            if packet.type != AUTH_RESPONSE:
                continue  # SRCDS's empty RESPONSE_VALUE before the verdict
            if packet.id == BAD_PASSWORD_ID:
                self.close()
                raise RconError(f"RCON at {self.host}:{self.port} refused the password")
            if packet.id == auth_id:
                return

    def command(self, text: str) -> str:
        """Run a console command; returns its output (possibly empty)."""
        self.connect()
        response = Response(self._new_id(), self._new_id())
        self._send(Packet(response.command_id, EXECCOMMAND, text.encode()))
        self._send(Packet(response.sentinel_id, RESPONSE_VALUE))
        try:
            while not response.feed(self._read("reply")):
                pass
        except RconError:
            # a server that ignores the sentinel still gave its output: keep it
            if not response.parts:
                raise
        return response.text()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""

    def _new_id(self) -> int:
        self._last_id = self._last_id % 0x7FFFFFFF + 1  # positive: -1 means "refused"
        return self._last_id

    def _send(self, packet: Packet) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(encode(packet))
        except OSError as e:
            self.close()
            raise RconError(f"RCON at {self.host}:{self.port}: {e}") from e

    def _read(self, what: str) -> Packet:
        assert self._sock is not None
        where = f"RCON at {self.host}:{self.port}"
        try:
            while (decoded := decode(self._buffer)) is None:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise RconError(f"{where} hung up before its {what}")
                self._buffer += chunk
        except RconError:
            self.close()
            raise
        except ConnectionResetError as e:  # a hang-up with data unread: same thing
            self.close()
            raise RconError(f"{where} hung up before its {what}") from e
        except TimeoutError as e:
            self.close()
            raise RconError(f"{where}: no {what} within {self.timeout:g}s") from e
        except (OSError, MalformedReply) as e:
            self.close()
            raise RconError(f"{where}: {e}") from e
        packet, self._buffer = decoded
        return packet
