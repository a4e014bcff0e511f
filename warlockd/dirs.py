"""The two directories the panels' fast answers need (answers.py), from the environment,
without pathlib: paths.py resolves them through here, so this stays their one reader."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # collections.abc would cost the panels' poll its import
if TYPE_CHECKING:
    from collections.abc import Mapping


def _first(value: str | None) -> str:
    """systemd's $STATE_DIRECTORY and $RUNTIME_DIRECTORY may list several, ':'-separated."""
    return (value or "").split(":")[0]


def state_dir(env: Mapping[str, str] | None = None) -> str:
    """The registry: /var/lib/warlock (what systemd hands warlockd.service; WARLOCK_* wins)."""
    e = os.environ if env is None else env
    return e.get("WARLOCK_STATE_DIR") or _first(e.get("STATE_DIRECTORY")) or "/var/lib/warlock"


def runtime_dir(env: Mapping[str, str] | None = None) -> str:
    """The daemon's per-instance cache: /run/warlock."""
    e = os.environ if env is None else env
    return e.get("WARLOCK_RUNTIME_DIR") or _first(e.get("RUNTIME_DIRECTORY")) or "/run/warlock"
