"""Where things live on the host: every path warlockd uses, resolved once, here.

Nothing else reads the environment variables that move them (tests and systemd set them;
dirs.py resolves the state and runtime directories for this module and answers.py):
`WARLOCK_STATE_DIR` (or systemd's `$STATE_DIRECTORY`), `WARLOCK_UNIT_DIR`,
`WARLOCK_CONFIG_DIR`, `WARLOCK_CONFIG` (the configuration file itself),
`WARLOCK_RUNTIME_DIR` (or systemd's `$RUNTIME_DIRECTORY`), `WARLOCK_TEMPLATES_DIR`,
`WARLOCK_INSTALLERS_DIR` and `WARLOCK_BUNDLED_DIR`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from . import dirs

# The directory that holds the `warlockd` package: on PYTHONPATH for `-m warlockd.runner`
# (a checkout, or Debian's dist-packages).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_SHARE = Path("/usr/share/warlockd")


# Debian's libjs-chart.js (Chart.js 3.9), which the dashboard serves: never a CDN.
CHART_JS = Path("/usr/share/javascript/chart.js/chart.min.js")


def web_static() -> Path:
    """The dashboard's own files: inside the package (pybuild installs them with it), so a
    checkout and the Debian package find them at the same place."""
    return PACKAGE_ROOT / "warlockd" / "web" / "static"


def from_checkout() -> bool:
    """Running from a checkout (its own data files) rather than the Debian package."""
    return (PACKAGE_ROOT / "pyproject.toml").is_file()


def _data_dir(name: str) -> Path:
    """The checkout's copy when running from source, the package's otherwise."""
    return PACKAGE_ROOT / name if from_checkout() else _SHARE / name


class Paths(NamedTuple):
    state: Path  # the registry: /var/lib/warlock
    units: Path  # where drop-ins go: /etc/systemd/system
    config: Path  # /etc/warlock
    templates: Path  # units/ (game@.service and the drop-in template)
    installers: Path  # shipped manifests
    bundled: Path = _SHARE / "bundled"  # programs that ship with warlockd (the example game)
    runtime: Path = Path("/run/warlock")  # the daemon's per-instance cache
    config_file_override: Path | None = None  # warlockd.toml elsewhere than in `config`

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        e = os.environ if env is None else env
        config_file = e.get("WARLOCK_CONFIG")
        return cls(
            state=Path(dirs.state_dir(e)),
            units=Path(e.get("WARLOCK_UNIT_DIR", "/etc/systemd/system")),
            config=Path(e.get("WARLOCK_CONFIG_DIR", "/etc/warlock")),
            templates=Path(e.get("WARLOCK_TEMPLATES_DIR") or _data_dir("units")),
            installers=Path(e.get("WARLOCK_INSTALLERS_DIR") or _data_dir("installers")),
            bundled=Path(e.get("WARLOCK_BUNDLED_DIR") or _data_dir("bundled")),
            runtime=Path(dirs.runtime_dir(e)),
            config_file_override=Path(config_file) if config_file else None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that gives a child process (a transient unit, a timer's job)
        these same paths."""
        env = {
            "WARLOCK_STATE_DIR": str(self.state),
            "WARLOCK_UNIT_DIR": str(self.units),
            "WARLOCK_CONFIG_DIR": str(self.config),
            "WARLOCK_TEMPLATES_DIR": str(self.templates),
            "WARLOCK_INSTALLERS_DIR": str(self.installers),
            "WARLOCK_BUNDLED_DIR": str(self.bundled),
            "WARLOCK_RUNTIME_DIR": str(self.runtime),
        }
        if self.config_file_override:
            env["WARLOCK_CONFIG"] = str(self.config_file_override)
        return env

    @property
    def config_file(self) -> Path:
        """warlockd.toml: the daemon's and the host's settings."""
        return self.config_file_override or self.config / "warlockd.toml"

    @property
    def instances(self) -> Path:
        return self.state / "instances"

    @property
    def apps(self) -> Path:
        """Shared installs of downloaded games: apps/<guid>/<build>/."""
        return self.state / "apps"

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
