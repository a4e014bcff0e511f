"""Shared helpers for the unit tier: a host made of tmp dirs and in-memory fakes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warlockd.accounts import MemoryAccounts
from warlockd.apps import App
from warlockd.host import Host
from warlockd.manifest import parse_manifest
from warlockd.model import InstanceId
from warlockd.paths import Paths
from warlockd.systemd import UnitState
from warlockd.systemd_memory import MemorySystemd

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "units"
INSTALLERS = REPO / "installers"
BUNDLED = REPO / "bundled"
GOLDEN = REPO / "tests" / "golden"
EXAMPLE_GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"
ID_A = InstanceId("0b5c7a52-3f3e-4b8e-9d0f-5a1c2e3d4f60")
ID_B = InstanceId("1c6d8b63-4a4f-4c9f-8e10-6b2d3f4e5a71")
ID_C = InstanceId("2d7e9c74-5b50-4dae-9f21-7c3e4f5a6b82")


# where the package puts things, with this checkout's templates: golden files name them
INSTALLED = Paths(
    state=Path("/var/lib/warlock"),
    units=Path("/etc/systemd/system"),
    config=Path("/etc/warlock"),
    templates=TEMPLATES,
    installers=INSTALLERS,
    bundled=Path("/usr/share/warlockd/bundled"),
)


def make_paths(root: Path, installers: Path = INSTALLERS) -> Paths:
    return Paths(
        state=root / "state",
        units=root / "units",
        config=root / "config",
        templates=TEMPLATES,
        installers=installers,
        bundled=BUNDLED,
        runtime=root / "run",
    )


def tree(*roots: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under `roots` with its mode, owner and content (None for a directory);
    not the registry's parse cache, which any read may refresh."""
    out: dict[str, tuple[int, int, bytes | None]] = {}
    for root in roots:
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.name == ".index.json":
                continue
            st = p.lstat()
            out[str(p)] = (st.st_mode, st.st_uid, None if p.is_dir() else p.read_bytes())
    return out


def example_app(manifest: Path = Path("/usr/share/warlockd/installers/example.toml")) -> App:
    """The shipped example manifest as if installed at `manifest` (golden files need one path)."""
    data = tomllib.loads((INSTALLERS / "example.toml").read_text())
    return parse_manifest(manifest, data, INSTALLED.bundled)


@dataclass
class World:
    """A Host over tmp dirs, MemorySystemd, MemoryAccounts and a settable table of host ports."""

    root: Path
    paths: Paths
    mem: MemorySystemd = field(default_factory=MemorySystemd)
    accounts: MemoryAccounts = field(default_factory=MemoryAccounts)
    held: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def host(self) -> Host:
        return Host(
            self.paths,
            systemd_factory=lambda: self.mem,
            accounts=self.accounts,
            probe_ports=lambda: dict(self.held),
        )

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused command must leave as it was."""
        return {
            "files": tree(self.root),
            "calls": list(self.mem.calls),
            "units": dict(self.mem.units),
            "enabled": set(self.mem.enabled),
            "reloads": self.mem.reloads,
            "users": dict(self.accounts.users),
        }

    def set_state(self, unit: str, active: str, sub: str) -> None:
        self.mem.units[unit] = UnitState(name=unit, load="loaded", active=active, sub=sub)
