"""Quake III Arena's out-of-band UDP protocol (ioquake3, OpenArena and their kin).

Every datagram starts with four 0xFF bytes. `getstatus` answers `statusResponse`, a
line of `\\key\\value` server variables, then one line per client (bots included):
`<score> <ping> "<name>"`. `rcon <password> <command>` answers zero or more `print`
datagrams with the console output; the server never says it has finished, so we read
until it has been quiet for a moment.
"""

from __future__ import annotations

import socket
import time
from typing import NamedTuple

from . import MalformedReply, RconError

OOB = b"\xff\xff\xff\xff"
STATUS_REQUEST = OOB + b"getstatus"
STATUS_REPLY = OOB + b"statusResponse\n"
PRINT_REPLY = OOB + b"print\n"


class Player(NamedTuple):
    name: str  # as sent, colour codes included
    score: int
    ping: int  # 0 for bots


class Status(NamedTuple):
    info: dict[str, str]
    players: tuple[Player, ...]

    @property
    def max_players(self) -> int:
        try:
            return int(self.info.get("sv_maxclients", "0"))
        except ValueError:
            return 0


def strip_colors(text: str) -> str:
    """`^1Sarge^7` -> `Sarge`: drop `^` and the character after it, as ioquake3's
    Q_CleanStr does (`^^` is a literal caret, not a colour)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "^" and i + 1 < len(text) and text[i + 1] != "^":
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def parse_info(line: str) -> dict[str, str]:
    """`\\k1\\v1\\k2\\v2` -> {k1: v1, k2: v2}; a dangling key is dropped."""
    fields = line.split("\\")[1:] if line.startswith("\\") else line.split("\\")
    return dict(zip(fields[::2], fields[1::2], strict=False))


def parse_player(line: str) -> Player:
    head, quote, rest = line.partition('"')
    numbers = head.split()
    if not quote or len(numbers) < 2:
        raise MalformedReply(f"not a player line: {line!r}")
    try:
        return Player(name=rest.rsplit('"', 1)[0], score=int(numbers[0]), ping=int(numbers[1]))
    except ValueError:
        raise MalformedReply(f"not a player line: {line!r}") from None


def parse_status(data: bytes) -> Status:
    if not data.startswith(STATUS_REPLY):
        raise MalformedReply("not a statusResponse")
    # names are 8-bit in the original engine; replacing odd bytes beats failing
    lines = data[len(STATUS_REPLY) :].decode("utf-8", "replace").split("\n")
    players = []
    for line in lines[1:]:
        try:
            players.append(parse_player(line))
        except MalformedReply:
            continue  # a mod's odd line must not turn a running server into "no answer"
    return Status(parse_info(lines[0]), tuple(players))


def status(host: str, port: int, timeout: float = 0.5) -> Status:
    """Ask for `getstatus`; raises OSError (no answer) or MalformedReply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        # connected: replies from other addresses are dropped, and an ICMP refusal
        # ends the wait at once instead of after the timeout
        s.connect((host, port))
        s.send(STATUS_REQUEST)
        return parse_status(s.recv(65535))


def rcon_request(password: str, command: str) -> bytes:
    # the server takes the password up to the first space and tokenises it with
    # quotes, so a password with either can never match
    if not password or any(c.isspace() or c == '"' for c in password):
        raise ValueError("a quake3 rcon password must be non-empty, without spaces or quotes")
    return OOB + f"rcon {password} {command}".encode()


def parse_print(data: bytes) -> str:
    if not data.startswith(PRINT_REPLY):
        raise MalformedReply("not a print reply")
    return data[len(PRINT_REPLY) :].decode("utf-8", "replace")


def rcon(
    host: str, port: int, password: str, command: str, timeout: float = 2.0, quiet: float = 0.25
) -> str:
    """Run a console command; returns the server's output, e.g. "Bad rconpassword.\\n".

    Waits `timeout` for the first reply, then until the server has been silent for
    `quiet` seconds. Raises RconError when nothing comes back (wrong port, or
    ioquake3's rate limit of about 10 rcon datagrams a second per address)."""
    request = rcon_request(password, command)
    parts: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, port))
            s.send(request)
            deadline = time.monotonic() + timeout
            while True:
                wait = quiet if parts else deadline - time.monotonic()
                if wait <= 0:
                    break
                s.settimeout(wait)
                try:
                    data = s.recv(65535)
                except TimeoutError:
                    break
                if data.startswith(PRINT_REPLY):  # anything else is not ours
                    parts.append(parse_print(data))
        except OSError as e:
            raise RconError(f"rcon to {host}:{port} failed: {e}") from e
    if not parts:
        raise RconError(f"no rcon reply from {host}:{port} within {timeout:g}s")
    return "".join(parts)
