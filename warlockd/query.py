"""Player-count queries. Here: the example server's `\\xffSTATUS` datagram; more protocols
come with the real games."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class QueryResult:
    player_count: int
    max_players: int
    map: str = ""


def warlock_status(host: str, port: int, timeout: float = 0.5) -> QueryResult | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(b"\xffSTATUS", (host, port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    head, _, body = data.partition(b"\n")
    if head != b"\xffSTATUS":
        return None
    try:
        info = json.loads(body)
        return QueryResult(int(info["players"]), int(info["max_players"]), str(info.get("map", "")))
    except (ValueError, KeyError, TypeError):
        return None


def query(protocol: str, port: int, host: str = "127.0.0.1") -> QueryResult | None:
    if protocol == "warlock-status":
        return warlock_status(host, port)
    return None
