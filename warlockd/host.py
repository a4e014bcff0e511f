"""The host a command acts on: paths, registry, systemd, accounts; real or in-memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .accounts import Accounts, SystemAccounts
from .paths import Paths
from .ports import Taken, host_taken
from .registry import Registry
from .systemd import Systemd

# What a long command reports as it goes: (what, bytes done, bytes in all if known)
Progress = Callable[[str, int, int | None], None]


def _real_systemd() -> Systemd:
    from .systemd import PystemdSystemd

    return PystemdSystemd()


class Host:
    def __init__(
        self,
        paths: Paths,
        systemd_factory: Callable[[], Systemd] = _real_systemd,
        accounts: Accounts | None = None,
        probe_ports: Callable[[], Taken] = host_taken,
    ) -> None:
        self.paths = paths
        self.systemd_factory = systemd_factory
        self.accounts: Accounts = SystemAccounts() if accounts is None else accounts
        self.probe_ports = probe_ports
        self._systemd: Systemd | None = None
        self.progress: Progress | None = None  # a front door's display, if it has one

    @property
    def registry(self) -> Registry:
        return Registry(self.paths)

    @property
    def systemd(self) -> Systemd:
        """Connected on first use, so commands that only read the registry never touch D-Bus."""
        if self._systemd is None:
            self._systemd = self.systemd_factory()
        return self._systemd

    def report(self, what: str) -> Callable[[int, int | None], None] | None:
        """A progress callback for one long step, or None when nobody watches."""
        show = self.progress
        if show is None:
            return None
        return lambda done, total: show(what, done, total)

    def record_event(self, kind: str, instance_id: str | None, message: str, **data: Any) -> None:
        """An event a command saw (an update, a port conflict), into the history, where
        warlockd picks it up for its webhooks. A command never fails for its history."""
        import sys
        import time

        from .store import Event, Store, StoreError

        try:
            store = Store(self.paths.database)
        except StoreError as e:
            sys.stderr.write(f"warning: event not recorded: {e}\n")
            return
        try:
            store.add_event(Event(time.time(), kind, instance_id, message, data))
        except StoreError as e:
            sys.stderr.write(f"warning: event not recorded: {e}\n")
        finally:
            store.close()

    def for_thread(self) -> Host:
        """The same host for another thread: its own systemd connection when it needs one
        (an sd-bus connection belongs to the thread that made it)."""
        host = Host(self.paths, self.systemd_factory, self.accounts, self.probe_ports)
        host.progress = self.progress
        return host

    @classmethod
    def from_env(cls) -> Host:
        return cls(Paths.from_env())
