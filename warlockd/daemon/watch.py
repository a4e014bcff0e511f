"""What an instance's unit state changes mean: events, and when to retry a crash loop (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..model import Status, status_of


@dataclass(frozen=True)
class Live:
    """The daemon's view of one unit, kept current from systemd's PropertiesChanged."""

    active: str = "inactive"
    sub: str = "dead"
    result: str = "success"
    restarts: int = 0
    main_pid: int = 0
    status_text: str = ""

    @property
    def status(self) -> Status:
        return status_of(self.active, self.sub)

    def updated(self, props: dict[str, Any]) -> Live:
        names = {
            "ActiveState": "active",
            "SubState": "sub",
            "Result": "result",
            "NRestarts": "restarts",
            "MainPID": "main_pid",
            "StatusText": "status_text",
        }
        return replace(self, **{names[k]: v for k, v in props.items() if k in names})


def classify(
    before: Live | None, after: Live, *, while_down: bool = False
) -> list[tuple[str, str]]:
    """The events between two views of a unit: (kind, message) pairs, oldest first."""
    if before is None:
        return []
    note = " (while warlockd was down)" if while_down else ""
    old, new = before.status, after.status
    events: list[tuple[str, str]] = []
    if after.restarts > before.restarts:
        kind = "frozen" if after.result == "watchdog" else "crashed"
        if old != Status.CRASHED:  # systemd went through the failure between our looks
            events.append((kind, f"{_why(after)}{note}"))
        events.append(("restarted", f"restarted by systemd (restart {after.restarts}){note}"))
        return events
    if new == old:
        return events
    if new == Status.CRASHED:
        kind = "frozen" if after.result == "watchdog" else "crashed"
        # systemd shows "failed" for an instant before each automatic restart too: the
        # cause here; a failure that lasts is reported by retry_crashed as a crash loop
        events.append((kind, f"{_why(after)}{note}"))
    elif new == Status.RUNNING and old != Status.RUNNING:
        events.append(("started", f"running{note}"))
    elif new == Status.STOPPED and old in (Status.RUNNING, Status.STOPPING, Status.STARTING):
        events.append(("stopped", f"stopped{note}"))
    return events


def _why(live: Live) -> str:
    return {
        "watchdog": "stopped answering: the watchdog restarted it",
        "exit-code": "exited with an error",
        "signal": "was killed by a signal",
        "core-dump": "crashed (core dump)",
        "timeout": "did not become ready in time",
        "oom-kill": "ran out of memory",
        "start-limit-hit": "gave up after repeated failures",
        # systemd resets Result= when it starts the unit again: a restart seen late
        "success": "stopped unexpectedly (the cause was not seen)",
    }.get(live.result, f"failed ({live.result})")


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Growing delays for retrying a crash loop (systemd 252 has no RestartSteps=)."""
    return float(min(cap, base * 2**attempt))


def summary(statuses: list[Status]) -> str:
    """The daemon's STATUS= line."""
    counts = {s: statuses.count(s) for s in Status}
    parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
    return f"{len(statuses)} instances" + (": " + ", ".join(parts) if parts else "")
