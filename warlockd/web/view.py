"""What the HTTP API reads of the daemon: its in-memory view of every instance (what the
D-Bus backend reads too), shaped as the API's rows, and the one thing the API asks of it:
to read the registry again now, after a create or a delete made through the API, so the
next listing shows it.

Rows are built from the daemon's own records (the instance's record, systemd's last word
on its unit, the last sample): a listing of 200 instances asks nothing of systemd or the
disk. The daemon's loop thread changes `tracked` while the server's threads read it: a
row is built from one Tracked at a time, from values that are replaced, never changed in
place.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..model import InstanceId, Status
from ..report import ports_of
from ..store import Sample

if TYPE_CHECKING:
    from ..daemon.loop import Daemon
    from ..daemon.state import Tracked

RESCAN_WAIT = 3.0


def _uptime(t: Tracked, now: float) -> int | None:
    if t.live.status != Status.RUNNING:
        return 0
    pid, started = t.since
    if pid != t.live.main_pid or not started:
        return None  # not sampled since it started: known at the next sample
    return max(0, int(now - started))


def _ports(t: Tracked) -> list[dict[str, Any]]:
    if t.app is not None:
        try:
            return [
                {"key": p["option"], "port": p["port"], "protocol": p["protocol"].lower(),
                 "description": p["description"]}
                for p in ports_of(t.inst, t.app)
            ]  # fmt: skip
        except KeyError:  # a record without a port its manifest names now
            pass
    return [
        {"key": k, "port": v, "protocol": None, "description": ""} for k, v in t.inst.ports.items()
    ]


def row(t: Tracked, now: float | None = None) -> dict[str, Any]:
    """An instance as GET /api/v1/instances lists it."""
    inst, last, live = t.inst, t.last, t.live
    max_players = last.get("max_players") or inst.max_players
    if max_players is None and t.app is not None:
        max_players = t.app.max_players
    return {
        "id": inst.id,
        "name": inst.name,
        "app": t.app.slug if t.app else None,
        "app_guid": inst.app,
        "service": inst.service,
        "status": str(live.status),
        "players": last.get("player_count"),
        "max_players": max_players,
        "cpu_percent": last.get("cpu_percent"),
        "memory_bytes": last.get("memory_bytes"),
        "disk_bytes": last.get("disk_bytes"),
        "tasks": last.get("tasks"),
        "uptime": _uptime(t, time.time() if now is None else now),
        "restarts": live.restarts,
        "result": live.result,
        "restart_needed": bool(last.get("restart_needed", False)),
        "ports": _ports(t),
        "path": inst.path,
        "created_at": inst.created_at,
        "sampled_at": last.get("sampled_at"),
    }


def detail(t: Tracked) -> dict[str, Any]:
    """One instance: its row, the rest of its record (no secrets) and its unit's state."""
    record = t.inst.public()
    extra = {k: record[k] for k in ("limits", "env", "build", "enabled", "config", "secrets")}
    live = {"active": t.live.active, "sub": t.live.sub, "main_pid": t.live.main_pid,
            "status_text": t.live.status_text}  # fmt: skip
    return row(t) | extra | {"unit": live}


def sample(s: Sample) -> dict[str, Any]:
    return {
        "instance_id": s.instance_id, "ts": s.ts, "status": s.status,
        "cpu_percent": s.cpu_percent, "memory_bytes": s.memory_bytes, "tasks": s.tasks,
        "disk_bytes": s.disk_bytes, "players": s.players, "max_players": s.max_players,
    }  # fmt: skip


class DaemonView:
    def __init__(self, daemon: Daemon) -> None:
        from .hoststats import HostStats

        self.daemon = daemon
        self.latest: dict[str, Sample] = {}  # each instance's last sample (for /metrics)
        self.host = HostStats()  # the dashboard's totals: read once per sampling round

    def all(self) -> list[Tracked]:
        return sorted(self.daemon.tracked.values(), key=lambda t: (t.inst.name, t.inst.id))

    def get(self, instance_id: InstanceId) -> Tracked | None:
        return self.daemon.tracked.get(instance_id)

    def rows(self, visible: Any = None) -> list[dict[str, Any]]:
        """Every instance's row (only those `visible(id)` allows, when given)."""
        now = time.time()
        return [row(t, now) for t in self.all() if visible is None or visible(t.inst.id)]

    def refresh(self) -> None:
        """The registry read again by the daemon before this returns (or RESCAN_WAIT
        passes): a create or a delete shows in the next listing. Without the daemon's loop
        running (unit tests), read here."""
        d = self.daemon
        if getattr(d, "wake_fd", -1) < 0:
            d.load_registry()
            return
        seen = d.scans
        d.rescan_soon()
        deadline = time.monotonic() + RESCAN_WAIT
        while d.scans == seen and time.monotonic() < deadline:
            time.sleep(0.005)
