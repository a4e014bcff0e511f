"""dashboard: one row per instance, crashed first: the state from systemd (one call,
always current), players and resources from the daemon's cache where it is fresh."""

from __future__ import annotations

import time
from typing import Any

from .. import cache, procs, schedules
from ..apps import app_slugs
from ..host import Host
from ..model import Instance, Status, status_of
from ..report import host_ip
from ..systemd import TimerState
from . import Args, Outcome

_ORDER = {"crashed": 0, "starting": 1, "stopping": 2, "running": 3, "stopped": 4}


def dashboard_rows(host: Host) -> list[dict[str, Any]]:
    instances, _ = host.registry.scan()
    ip = host_ip()
    states = host.systemd.states("game@*.service") if instances else {}
    scheduled = any(i.schedules for i in instances)
    timers = host.systemd.timers(f"{schedules.TEMPLATE}*.timer") if scheduled else {}
    rows = []
    for inst in instances:
        st = states.get(inst.unit)
        status = status_of(st.active, st.sub) if st else Status.STOPPED
        running = status == Status.RUNNING
        key = cache.key("services", inst.app, ip, inst.id)
        cached = (cache.read(host.paths.runtime, key) or {}) if running else {}
        since = procs.unit_started(inst.unit) if running else 0.0
        rows.append(
            {
                "id": inst.id,
                "name": inst.name,
                "app": inst.app,
                "ports": inst.ports,
                "status": str(status),
                "players": cached.get("player_count"),
                "max_players": cached.get("max_players"),
                "cpu_percent": cached.get("cpu_percent"),
                "memory_bytes": cached.get("memory_bytes"),
                "uptime": procs.uptime(since),
                "next_schedule": next_run(inst, timers),
            }
        )
    rows.sort(key=lambda r: (_ORDER.get(str(r["status"]), 5), r["name"]))
    return rows


def next_run(inst: Instance, timers: dict[str, TimerState]) -> str | None:
    """The instance's next scheduled task, as `<task> <local time>`."""
    due = [
        (t.next_elapse, s.task)
        for s in inst.schedules
        if not s.paused and (t := timers.get(schedules.timer(s))) and t.next_elapse
    ]
    if not due:
        return None
    when, task = min(due)
    return f"{task} {time.strftime('%m-%d %H:%M', time.localtime(when))}"


def do_dashboard(host: Host, args: Args) -> Outcome:
    return Outcome(dashboard_rows(host), view=None if args.json else app_slugs(host.paths))
