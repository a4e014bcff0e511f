"""Game-server wire protocols: one small module per family, stdlib only.

`quake3` (getstatus, rcon), `a2s` (Valve server queries), `minecraft` (Server List
Ping), `assetto` (Assetto Corsa's HTTP /INFO), `source_rcon` (Valve's TCP RCON, also
spoken by Minecraft, ARK, Palworld...).

Each module keeps parsing pure (bytes in, values out, `MalformedReply` on garbage)
and apart from the few functions that touch a socket, so the parsers are tested on
recorded bytes and the I/O against small fake servers.

Why our own code and not python-a2s, mcstatus or rcon: these modules are imported by
the per-instance runner, which must stay under ~12 MB; those libraries pull asyncio,
dnspython and more, for a few hundred lines of protocol we can read in one sitting.
Nothing here does work at import time.
"""

from __future__ import annotations

# what a manifest's [query] protocol may be (warlockd.query answers each one)
QUERY_PROTOCOLS = ("none", "warlock-status", "quake3", "a2s", "minecraft", "assetto")


class MalformedReply(ValueError):
    """The server's bytes do not follow the protocol (truncated, wrong header, bad JSON)."""


class RconError(ConnectionError):
    """An RCON exchange failed: wrong password, no reply, or the server hung up."""
