"""Where things live on the host; every path can be moved for tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_SHARE = Path("/usr/share/warlockd")


def _data_dir(name: str) -> Path:
    """The checkout's copy when running from source, the package's otherwise."""
    local = _SOURCE_ROOT / name
    return local if (_SOURCE_ROOT / "pyproject.toml").is_file() else _SHARE / name


class Paths(NamedTuple):
    state: Path  # the registry: /var/lib/warlock
    units: Path  # where drop-ins go: /etc/systemd/system
    config: Path  # /etc/warlock
    templates: Path  # units/ (game@.service and the drop-in template)
    installers: Path  # shipped manifests

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Paths:
        e = os.environ if env is None else env
        # $STATE_DIRECTORY is what systemd hands warlockd.service; WARLOCK_* wins for tests.
        state = e.get("WARLOCK_STATE_DIR") or e.get("STATE_DIRECTORY", "").split(":")[0]
        return cls(
            state=Path(state or "/var/lib/warlock"),
            units=Path(e.get("WARLOCK_UNIT_DIR", "/etc/systemd/system")),
            config=Path(e.get("WARLOCK_CONFIG_DIR", "/etc/warlock")),
            templates=Path(e.get("WARLOCK_TEMPLATES_DIR") or _data_dir("units")),
            installers=Path(e.get("WARLOCK_INSTALLERS_DIR") or _data_dir("installers")),
        )

    @property
    def instances(self) -> Path:
        return self.state / "instances"

    @property
    def lock(self) -> Path:
        return self.state / ".lock"

    @property
    def database(self) -> Path:
        return self.state / "warlock.db"

    def creating_note(self, instance_id: str) -> Path:
        """What a create in progress notes before its first change (actions.create)."""
        return self.state / f".creating-{instance_id}.json"

    def creating_notes(self) -> dict[str, Path]:
        """The notes left by creates, by the id in their names."""
        return {
            p.name.removeprefix(".creating-").removesuffix(".json"): p
            for p in sorted(self.state.glob(".creating-*.json"))
        }

    @property
    def extra_installers(self) -> Path:
        return self.config / "installers.d"

    def dropin_dir(self, unit: str) -> Path:
        return self.units / f"{unit}.d"
