"""Player-count queries: one call, `query(protocol, port)`, for every protocol an app
manifest can name. The wire formats live in `warlockd.protocols`, imported only when
used, so a runner probing one game loads one small module.

`query` answers a QueryResult, or None when the server does not answer, answers too
late, or answers garbage: a probe must never raise on what a game server sends.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

from .protocols import QUERY_PROTOCOLS as QUERY_PROTOCOLS


class QueryResult(NamedTuple):
    player_count: int
    max_players: int
    map: str = ""
    players: tuple[str, ...] = ()  # names, where the protocol gives them (maybe a sample)
    name: str = ""  # the server's name or MOTD, colour codes removed
    session: str = ""  # the session running (Assetto Corsa: practice, qualify, race...)


def warlock_status(host: str, port: int, timeout: float = 0.5) -> QueryResult | None:
    """The example server's `\\xffSTATUS` datagram, answered with `\\xffSTATUS\\n{json}`."""
    import json  # here: a runner probing another protocol need not load it

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            # connected: an ICMP refusal ends the wait at once (the game is not up yet)
            s.connect((host, port))
            s.send(b"\xffSTATUS")
            data = s.recv(65535)
        except OSError:
            return None
    head, _, body = data.partition(b"\n")
    if head != b"\xffSTATUS":
        return None
    try:
        info = json.loads(body)
        return QueryResult(
            int(info["players"]), int(info["max_players"]), str(info.get("map", "")),
            name=str(info.get("name", "")),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


def ask_quake3(host: str, port: int, timeout: float) -> QueryResult:
    from .protocols import quake3

    status = quake3.status(host, port, timeout)
    return QueryResult(
        player_count=len(status.players),  # bots included, as in-game
        max_players=status.max_players,
        map=status.info.get("mapname", ""),
        players=tuple(quake3.strip_colors(p.name) for p in status.players),
        name=quake3.strip_colors(status.info.get("sv_hostname", "")),
    )


def ask_a2s(host: str, port: int, timeout: float) -> QueryResult:
    from .protocols import a2s

    info, players = a2s.status(host, port, timeout)
    return QueryResult(
        player_count=info.players,
        max_players=info.max_players,
        map=info.map,
        players=tuple(p.name for p in players if p.name),  # "" = still connecting
        name=info.name,
    )


def ask_minecraft(host: str, port: int, timeout: float) -> QueryResult:
    from .protocols import minecraft

    status = minecraft.status(host, port, timeout)
    return QueryResult(
        player_count=status.online,
        max_players=status.max_players,
        players=status.sample,
        name=status.description,
    )


def ask_assetto(host: str, port: int, timeout: float) -> QueryResult:
    from .protocols import assetto

    info, drivers = assetto.status(host, port, timeout)
    return QueryResult(
        player_count=info.clients,
        max_players=info.max_clients,
        map=info.track,
        players=drivers,
        name=info.name,
        session=info.session,
    )


def query(
    protocol: str, port: int, host: str = "127.0.0.1", timeout: float = 0.5
) -> QueryResult | None:
    """Ask the server on `host:port` with `protocol` (one of QUERY_PROTOCOLS)."""
    if protocol == "warlock-status":
        return warlock_status(host, port, timeout)
    ask = {"quake3": ask_quake3, "a2s": ask_a2s, "minecraft": ask_minecraft,
           "assetto": ask_assetto}.get(protocol)  # fmt: skip
    if ask is None:  # "none", or a name we do not know
        return None
    try:
        return ask(host, port, timeout)
    except (OSError, ValueError):  # no answer, refused, too slow; MalformedReply
        return None
