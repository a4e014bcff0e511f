"""systemd, over D-Bus: the Protocol the rest of warlockd uses, and its pystemd implementation.

This is the only module that imports pystemd. pystemd returns bytes and builds its
objects at run time, so it stays behind this small typed surface.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from .errors import NotFound, SystemdError

_DEST = b"org.freedesktop.systemd1"
_PATH = b"/org/freedesktop/systemd1"
_MANAGER = b"org.freedesktop.systemd1.Manager"
_PROPS = b"org.freedesktop.DBus.Properties"
_SERVICE = b"org.freedesktop.systemd1.Service"
_TIMER = b"org.freedesktop.systemd1.Timer"
_UNREACHABLE_HINT = (
    "is systemd PID 1 here? run as root on a systemd host (or in the test container)"
)


class UnitState(NamedTuple):
    name: str
    load: str = "not-found"  # LoadState
    active: str = "inactive"  # ActiveState
    sub: str = "dead"  # SubState
    result: str = "success"
    main_pid: int = 0
    since: float = 0.0  # when it last became active, seconds since the epoch; 0 if unknown
    restarts: int = 0  # NRestarts since the unit was loaded
    unit_file_state: str = ""  # enabled, disabled...
    status_text: str = ""  # the runner's STATUS=, e.g. "players 3/16"
    memory_bytes: int | None = None  # cgroup accounting; None where it is not available
    cpu_nsec: int | None = None
    tasks: int | None = None
    control_group: str = ""


class TimerState(NamedTuple):
    name: str
    active: str = "inactive"
    next_elapse: float = 0.0  # seconds since the epoch; 0 when it is not due to run
    last_trigger: float = 0.0  # 0 when it never ran


class Change(NamedTuple):
    """Properties of one unit that systemd says changed (names and values as strings/ints)."""

    unit: str
    props: dict[str, Any]


class Systemd(Protocol):
    def reload(self) -> None: ...
    def start(self, unit: str, timeout: float) -> None: ...
    def stop(self, unit: str, timeout: float) -> None: ...
    def restart(self, unit: str, timeout: float) -> None: ...
    def enable(self, units: Sequence[str]) -> None: ...
    def disable(self, units: Sequence[str]) -> None: ...
    def reset_failed(self, unit: str) -> None: ...
    def enqueue_start(self, unit: str) -> None:
        """Queue a start job without waiting for it."""
        ...

    def states(self, pattern: str) -> dict[str, UnitState]:
        """Load/active/sub of every loaded unit matching a glob, in one round trip."""
        ...

    def state(self, unit: str) -> UnitState:
        """Everything about one unit, loading it if needed."""
        ...

    def watched(self, known: UnitState) -> UnitState:
        """A row of states() completed with what watching follows: result, restarts, main
        pid and status text. Only for units systemd has loaded: it does not load one."""
        ...

    def watch(self, prefix: str) -> int:
        """Subscribe to property changes of units named prefix*; returns an fd to poll."""
        ...

    def changes(self) -> list[Change]:
        """The changes that arrived since the last call (never blocks)."""
        ...

    def start_transient(
        self, unit: str, argv: Sequence[str], env: dict[str, str], description: str
    ) -> None:
        """Run argv as a transient service `unit` (it outlives the caller), started now."""
        ...

    def timers(self, pattern: str) -> dict[str, TimerState]:
        """The loaded timers matching a glob, with when each runs next and ran last."""
        ...


def _import_dbuslib() -> Any:
    """Import pystemd's sd-bus binding without `pystemd/__init__`, which pulls in lxml
    (~50 ms): every CLI call pays for what it imports."""
    if "pystemd" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("pystemd")
        if spec is None or not spec.submodule_search_locations:
            raise SystemdError("pystemd is not installed", hint="apt install python3-pystemd")
        pkg = types.ModuleType("pystemd")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["pystemd"] = pkg
    import pystemd.dbusexc
    import pystemd.dbuslib

    return pystemd.dbuslib, pystemd.dbusexc


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PystemdSystemd:
    """The real backend: one sd-bus connection to the system bus, opened on first use."""

    def __init__(self) -> None:
        self._lib, self._exc = _import_dbuslib()
        self._bus: Any = None
        self._jobs: dict[bytes, bytes] = {}
        self._subscribed = False
        self._callback: Any = None
        self._watch_callback: Any = None
        self._changes: list[Change] = []

    # -- plumbing ---------------------------------------------------------
    def _connect(self) -> Any:
        if self._bus is None:
            bus = self._lib.DBus()
            try:
                bus.open()
            except self._exc.DBusBaseError as e:
                raise SystemdError(
                    f"cannot reach systemd on the system bus: {e}", hint=_UNREACHABLE_HINT
                ) from None
            self._bus = bus
        return self._bus

    def _call(self, path: bytes, iface: bytes, method: bytes, sig: bytes, args: list[Any]) -> Any:
        bus = self._connect()
        try:
            msg = bus.call_method(
                _DEST, path, iface, method, self._lib.apply_signature(sig, args) if sig else []
            )
        except self._exc.DBusBaseError as e:
            raise self._error(method, e) from None
        return msg.body

    def _error(self, method: bytes, e: Exception) -> Exception:
        text = str(e).split(": ", 1)[-1]
        if isinstance(e, self._exc.DBusNoSuchUnitError):
            return NotFound(f"systemd: {text}")
        if isinstance(
            e, self._exc.DBusAccessDeniedError | self._exc.DBusInteractiveAuthorizationRequiredError
        ):
            return SystemdError(f"systemd refused {method.decode()}: {text}", hint="run as root")
        if isinstance(
            e,
            self._exc.DBusDisconnectedError
            | self._exc.DBusNoReplyError
            | self._exc.DBusTimeoutError,
        ):
            self._bus = None
            return SystemdError(f"lost the connection to systemd: {text}", hint=_UNREACHABLE_HINT)
        return SystemdError(f"systemd {method.decode()} failed: {text}")

    def _manager(self, method: bytes, sig: bytes = b"", *args: Any) -> Any:
        return self._call(_PATH, _MANAGER, method, sig, list(args))

    def _subscribe(self) -> None:
        # Race-free: the match and Subscribe come before the job exists, so its
        # JobRemoved is buffered even if it arrives before StartUnit's reply.
        if not self._subscribed:
            bus = self._connect()
            jobs = self._jobs

            # A plain function: pystemd sets attributes on it, which a bound method refuses.
            def on_job_removed(msg: Any, error: Any = None, userdata: Any = None) -> None:
                msg.process_reply(False)
                _id, job, _unit, result = msg.body
                jobs[job] = result
                while len(jobs) > 256:  # a long-lived daemon sees every job of the host
                    jobs.pop(next(iter(jobs)))

            # pystemd keeps only a borrowed pointer to the callback: we hold the reference.
            self._callback = on_job_removed
            bus.match_signal(_DEST, _PATH, _MANAGER, b"JobRemoved", on_job_removed, None)
            self._manager(b"Subscribe")
            self._subscribed = True

    def _run_job(self, method: bytes, unit: str, timeout: float) -> None:
        self._subscribe()
        job = self._manager(method, b"ss", unit.encode(), b"replace")
        bus = self._bus
        deadline = time.monotonic() + timeout
        while job not in self._jobs:
            left = deadline - time.monotonic()
            if left <= 0:
                verb = method.decode().removesuffix("Unit").lower()
                raise SystemdError(
                    f"{unit}: {verb} did not finish within {timeout:g} s",
                    hint="the job goes on; `manage.py status` shows where it is",
                )
            while not bus.process().is_empty():
                pass
            if job not in self._jobs:
                bus.wait(int(min(left, 1.0) * 1_000_000))
        result = _s(self._jobs.pop(job))
        if result != "done":
            verb = method.decode().removesuffix("Unit").lower()
            raise SystemdError(f"{unit}: {verb} job {result}")

    # -- Systemd -------------------------------------------------------------
    def reload(self) -> None:
        self._manager(b"Reload")

    def start(self, unit: str, timeout: float) -> None:
        self._run_job(b"StartUnit", unit, timeout)

    def stop(self, unit: str, timeout: float) -> None:
        self._run_job(b"StopUnit", unit, timeout)

    def restart(self, unit: str, timeout: float) -> None:
        self._run_job(b"RestartUnit", unit, timeout)

    def enable(self, units: Sequence[str]) -> None:
        self._manager(b"EnableUnitFiles", b"asbb", [u.encode() for u in units], False, True)

    def disable(self, units: Sequence[str]) -> None:
        self._manager(b"DisableUnitFiles", b"asb", [u.encode() for u in units], False)

    def enqueue_start(self, unit: str) -> None:
        self._manager(b"StartUnit", b"ss", unit.encode(), b"replace")

    def reset_failed(self, unit: str) -> None:
        with contextlib.suppress(NotFound):  # not loaded: nothing to reset
            self._manager(b"ResetFailedUnit", b"s", unit.encode())

    def states(self, pattern: str) -> dict[str, UnitState]:
        rows = self._manager(b"ListUnitsByPatterns", b"asas", [], [pattern.encode()])
        return {
            _s(r[0]): UnitState(name=_s(r[0]), load=_s(r[2]), active=_s(r[3]), sub=_s(r[4]))
            for r in rows
        }

    def state(self, unit: str) -> UnitState:
        path = self._manager(b"LoadUnit", b"s", unit.encode())
        u = self._call(path, _PROPS, b"GetAll", b"s", [b"org.freedesktop.systemd1.Unit"])
        s = self._call(path, _PROPS, b"GetAll", b"s", [b"org.freedesktop.systemd1.Service"])
        since = int(u.get(b"ActiveEnterTimestamp", 0))
        return UnitState(
            name=unit,
            load=_s(u.get(b"LoadState", b"")),
            active=_s(u.get(b"ActiveState", b"")),
            sub=_s(u.get(b"SubState", b"")),
            unit_file_state=_s(u.get(b"UnitFileState", b"")),
            result=_s(s.get(b"Result", b"")),
            main_pid=int(s.get(b"MainPID", 0)),
            restarts=int(s.get(b"NRestarts", 0)),
            since=since / 1e6 if u.get(b"ActiveState") in (b"active", b"reloading") else 0.0,
            status_text=_s(s.get(b"StatusText", b"")),
            memory_bytes=_accounted(s.get(b"MemoryCurrent")),
            cpu_nsec=_accounted(s.get(b"CPUUsageNSec")),
            tasks=_accounted(s.get(b"TasksCurrent")),
            control_group=_s(s.get(b"ControlGroup", b"")),
        )

    def watched(self, known: UnitState) -> UnitState:
        # Four small Gets: state() (LoadUnit and two whole GetAll) costs three times as
        # much, and its 14 kB replies, 200 at a time, fragment a long-lived daemon's heap.
        path = self._lib.path_encode(b"/org/freedesktop/systemd1/unit", known.name.encode())

        def get(name: bytes) -> Any:
            return self._call(path, _PROPS, b"Get", b"ss", [_SERVICE, name])

        return known._replace(
            result=_s(get(b"Result")),
            restarts=int(get(b"NRestarts")),
            main_pid=int(get(b"MainPID")),
            status_text=_s(get(b"StatusText")),
        )

    def watch(self, prefix: str) -> int:
        bus = self._connect()
        path_prefix = self._lib.path_encode(b"/org/freedesktop/systemd1/unit", prefix.encode())
        pending = self._changes

        # Keys in the match rule cannot select a path prefix: filter here, cheaply.
        def on_changed(msg: Any, error: Any = None, userdata: Any = None) -> None:
            path = msg.get_path()
            if not path.startswith(path_prefix):
                return
            msg.process_reply(False)
            _iface, changed, _invalidated = msg.body
            unit = _s(self._lib.path_decode(path, b"/org/freedesktop/systemd1/unit"))
            pending.append(Change(unit, {_s(k): _plain(v) for k, v in changed.items()}))

        self._watch_callback = on_changed  # pystemd keeps only a borrowed pointer
        bus.match_signal(_DEST, None, _PROPS, b"PropertiesChanged", on_changed, None)
        if not self._subscribed:
            self._manager(b"Subscribe")
            self._subscribed = True
        return int(bus.get_fd())

    def changes(self) -> list[Change]:
        bus = self._connect()
        try:
            while not bus.process().is_empty():
                pass
        except self._exc.DBusBaseError as e:
            raise self._error(b"process", e) from None
        out, self._changes[:] = list(self._changes), []
        return out

    def timers(self, pattern: str) -> dict[str, TimerState]:
        rows = self._manager(b"ListUnitsByPatterns", b"asas", [], [pattern.encode()])
        out = {}
        for r in rows:
            name = _s(r[0])

            def get(prop: bytes, path: Any = r[6]) -> int:
                return int(self._call(path, _PROPS, b"Get", b"ss", [_TIMER, prop]))

            out[name] = TimerState(
                name, _s(r[3]), _usec(get(b"NextElapseUSecRealtime")),
                _usec(get(b"LastTriggerUSec")),
            )  # fmt: skip
        return out

    def start_transient(
        self, unit: str, argv: Sequence[str], env: dict[str, str], description: str
    ) -> None:
        from .run import run

        setenv = [f"--setenv={k}={v}" for k, v in sorted(env.items())]
        run(["systemd-run", f"--unit={unit}", f"--description={description}", "--collect",
             "--quiet", "--property=KillMode=mixed", *setenv, "--", *argv], timeout=30)  # fmt: skip


def _usec(value: int) -> float:
    """Microseconds since the epoch as seconds; 0 (and 2^64-1) mean: none."""
    return 0.0 if value in (0, 2**64 - 1) else value / 1e6


def _accounted(value: Any) -> int | None:
    """systemd's 2^64-1 means: no accounting for this (e.g. cgroup v1 without delegation)."""
    if value is None or int(value) >= 2**64 - 1:
        return None
    return int(value)


def _plain(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
