"""The HTTP API, a front door of warlockd.service beside the D-Bus one (server.py runs it,
app.py builds it, routes_*.py answer, operations.py and worker.py run what changes the host,
sse.py streams) and its security core: API keys, users, sessions, login rate limits, the
listen/TLS policy and the Starlette glue (keys.py, users.py, sessions.py, ratelimit.py,
tls.py, principal.py, auth.py). Only the modules that serve import a web framework; the
CLI's `api-key` and `user` commands import the stores alone, and nothing here is on the
CLI's hot path."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class WebFiles(NamedTuple):
    """Where the web layer keeps its state: root-only files beside the registry."""

    api_keys: Path  # /var/lib/warlock/api-keys.json
    users: Path  # /var/lib/warlock/users.json
    sessions: Path  # /var/lib/warlock/sessions.json (token hashes only)
    tls: Path  # /var/lib/warlock/tls: a generated self-signed certificate and its key
    operations: Path  # /var/lib/warlock/api-operations: one file per operation kept

    @classmethod
    def under(cls, state: Path) -> WebFiles:
        return cls(
            api_keys=state / "api-keys.json",
            users=state / "users.json",
            sessions=state / "sessions.json",
            tls=state / "tls",
            operations=state / "api-operations",
        )
