"""The host a command acts on: paths, registry, systemd, accounts; real or in-memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .accounts import Accounts, SystemAccounts
from .paths import Paths
from .ports import Taken, host_taken
from .registry import Registry
from .systemd import Systemd


def _real_systemd() -> Systemd:
    from .systemd import PystemdSystemd

    return PystemdSystemd()


@dataclass
class Host:
    paths: Paths
    systemd_factory: Callable[[], Systemd] = _real_systemd
    accounts: Accounts = field(default_factory=SystemAccounts)
    probe_ports: Callable[[], Taken] = host_taken
    _systemd: Systemd | None = None

    @property
    def registry(self) -> Registry:
        return Registry(self.paths)

    @property
    def systemd(self) -> Systemd:
        """Connected on first use, so commands that only read the registry never touch D-Bus."""
        if self._systemd is None:
            self._systemd = self.systemd_factory()
        return self._systemd

    @classmethod
    def from_env(cls) -> Host:
        return cls(Paths.from_env())
