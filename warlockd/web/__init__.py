"""The security core of the HTTP API and the dashboard: API keys, users, sessions, login rate
limits, the listen/TLS policy and the Starlette glue (auth.py, the only module that imports a
web framework). Nothing here is imported by the CLI's hot path."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class WebFiles(NamedTuple):
    """Where the web layer keeps its state: root-only files beside the registry."""

    api_keys: Path  # /var/lib/warlock/api-keys.json
    users: Path  # /var/lib/warlock/users.json
    sessions: Path  # /var/lib/warlock/sessions.json (token hashes only)
    tls: Path  # /var/lib/warlock/tls: a generated self-signed certificate and its key

    @classmethod
    def under(cls, state: Path) -> WebFiles:
        return cls(
            api_keys=state / "api-keys.json",
            users=state / "users.json",
            sessions=state / "sessions.json",
            tls=state / "tls",
        )
