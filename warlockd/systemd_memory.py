"""An in-memory systemd for fast unit tests; the real one is tested in the container."""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Sequence

from .errors import SystemdError
from .systemd import Change, TimerState, UnitState

# UnitState fields as systemd names them in PropertiesChanged
_DBUS_NAMES = {
    "active": "ActiveState",
    "sub": "SubState",
    "result": "Result",
    "restarts": "NRestarts",
    "main_pid": "MainPID",
    "status_text": "StatusText",
}


class MemorySystemd:
    def __init__(self) -> None:
        self.units: dict[str, UnitState] = {}
        self.enabled: set[str] = set()
        self.reloads = 0
        self.failing: set[str] = set()  # units whose start job fails
        self.reachable = True
        self.calls: list[tuple[str, str]] = []
        self._pid = 1000
        self.pending: list[Change] = []
        self._watched: str | None = None
        self._wake: tuple[int, int] | None = None  # made by watch(): most tests never watch
        self.transient: dict[str, tuple[list[str], dict[str, str], str]] = {}
        self.timer_states: dict[str, TimerState] = {}  # what a test says a timer shows

    def __del__(self) -> None:
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)

    def _check(self, op: str, unit: str = "") -> None:
        if not self.reachable:
            raise SystemdError("cannot reach systemd on the system bus: connection refused")
        self.calls.append((op, unit))

    def _set(self, unit: str, **fields: object) -> None:
        current = self.units.get(unit, UnitState(name=unit, load="loaded"))
        self.units[unit] = current._replace(**fields)  # type: ignore[arg-type]
        if self._watched is not None and unit.startswith(self._watched):
            names = _DBUS_NAMES
            self.pending.append(
                Change(unit, {names[k]: v for k, v in fields.items() if k in names})
            )
            if self._wake is not None:
                os.write(self._wake[1], b"x")

    def reload(self) -> None:
        self._check("reload")
        self.reloads += 1

    def start(self, unit: str, timeout: float) -> None:
        self._check("start", unit)
        if unit in self.failing:
            self._set(unit, active="failed", sub="failed", result="exit-code", main_pid=0)
            raise SystemdError(f"{unit}: start job failed")
        if self.units.get(unit, UnitState(unit)).active != "active":
            self._pid += 1
            self._set(
                unit,
                active="active",
                sub="running",
                result="success",
                main_pid=self._pid,
                since=time.time(),
            )

    def stop(self, unit: str, timeout: float) -> None:
        self._check("stop", unit)
        self._set(unit, active="inactive", sub="dead", main_pid=0, since=0.0)

    def enqueue_start(self, unit: str) -> None:
        self.start(unit, 0.0)

    def restart(self, unit: str, timeout: float) -> None:
        self.stop(unit, timeout)
        self.start(unit, timeout)

    def enable(self, units: Sequence[str]) -> None:
        self._check("enable", ",".join(units))
        self.enabled.update(units)

    def disable(self, units: Sequence[str]) -> None:
        self._check("disable", ",".join(units))
        self.enabled.difference_update(units)

    def reset_failed(self, unit: str) -> None:
        self._check("reset_failed", unit)
        if unit in self.units and self.units[unit].active == "failed":
            self._set(unit, active="inactive", sub="dead", result="success")

    def crash(self, unit: str) -> None:
        """What systemd shows while Restart= waits to bring a crashed unit back."""
        self._set(
            unit,
            active="activating",
            sub="auto-restart",
            result="exit-code",
            restarts=self.units[unit].restarts + 1,
            main_pid=0,
        )

    def states(self, pattern: str) -> dict[str, UnitState]:
        self._check("states", pattern)
        return {n: s for n, s in self.units.items() if fnmatch.fnmatchcase(n, pattern)}

    def state(self, unit: str) -> UnitState:
        self._check("state", unit)
        s = self.units.get(unit, UnitState(name=unit, load="loaded"))
        return s._replace(unit_file_state="enabled" if unit in self.enabled else "disabled")

    def watched(self, known: UnitState) -> UnitState:
        self._check("watched", known.name)
        s = self.units.get(known.name)
        if s is None:
            return known
        return known._replace(
            result=s.result,
            restarts=s.restarts,
            main_pid=s.main_pid,
            status_text=s.status_text,
        )

    def watch(self, prefix: str) -> int:
        self._check("watch", prefix)
        self._watched = prefix
        if self._wake is None:
            self._wake = os.pipe()
        return self._wake[0]

    def changes(self) -> list[Change]:
        self._check("changes")
        if self._wake is not None:
            os.set_blocking(self._wake[0], False)
            try:
                while os.read(self._wake[0], 4096):
                    pass
            except BlockingIOError:
                pass
        out, self.pending = self.pending, []
        return out

    def start_transient(
        self, unit: str, argv: Sequence[str], env: dict[str, str], description: str
    ) -> None:
        self._check("start_transient", unit)
        self.transient[unit] = (list(argv), dict(env), description)
        self._pid += 1
        self._set(unit, active="active", sub="running", main_pid=self._pid)

    def timers(self, pattern: str) -> dict[str, TimerState]:
        self._check("timers", pattern)
        return {
            u: self.timer_states.get(u, TimerState(u, s.active))
            for u, s in self.units.items()
            if fnmatch.fnmatch(u, pattern) and u.endswith(".timer")
        }
