"""Monitoring commands: get-metrics, metrics, events, dashboard.

They read what warlockd.service keeps (the cache under /run/warlock, the history in
warlock.db) and fall back to asking systemd and the kernel directly when it is down.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

from . import cache, metrics, procs
from .apps import find_app
from .errors import InvalidInput
from .host import Host
from .model import Instance, Status, status_of
from .report import host_ip, service

_DURATION_RE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    """`90s`, `15m`, `1h`, `2d`, `1w` -> seconds."""
    m = _DURATION_RE.fullmatch(text.strip())
    if not m:
        raise InvalidInput(f"--since {text!r}: expected a duration such as 15m, 1h or 2d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def run_dir() -> Any:
    import os
    from pathlib import Path

    return Path(os.environ.get("WARLOCK_RUNTIME_DIR", "/run/warlock"))


def instance_metrics(host: Host, inst: Instance, ip: str) -> dict[str, Any]:
    """From the daemon's cache when it is fresh, else measured now (daemon down)."""
    cached = cache.read(run_dir(), cache.key("services", inst.app, ip, inst.id))
    if cached is not None:
        cached.pop("live", None)
        return cached | {"source": "cache"}
    app = find_app(host.paths, inst.app)
    st = host.systemd.state(inst.unit)
    data = service(inst, app, st, ip)
    usage = None
    if data["status"] == "running":
        sampler = metrics.Sampler()
        sampler.usage(inst.unit)  # CPU needs two looks
        time.sleep(0.2)
        usage = sampler.usage(inst.unit)
    # systemd's own accounting where the host has it, else what /proc counted
    mem = (
        st.memory_bytes if st.memory_bytes is not None else (usage.memory_bytes if usage else None)
    )
    cpu = usage.cpu_percent if usage else None
    return data | {
        "cpu_usage": "N/A" if cpu is None else f"{cpu:g}%",
        "memory_usage": metrics.human_bytes(mem),
        "cpu_percent": cpu,
        "memory_bytes": mem,
        "tasks": usage.tasks if usage else None,
        "source": "live",
    }


def do_get_metrics(host: Host, instances: list[Instance]) -> dict[str, Any]:
    ip = host_ip()
    return {i.unit: instance_metrics(host, i, ip) for i in instances}


def open_store(host: Host) -> Any:
    from .store import Store

    return Store(host.paths.database)


def history(host: Host, inst: Instance, since: float) -> list[dict[str, Any]]:
    store = open_store(host)
    try:
        return [s.__dict__ for s in store.metrics(inst.id, time.time() - since)]
    finally:
        store.close()


def events(host: Host, inst: Instance | None, since: float) -> list[dict[str, Any]]:
    store = open_store(host)
    try:
        found = store.events(time.time() - since, instance_id=inst.id if inst else None)
        return [e.__dict__ for e in found]
    finally:
        store.close()


def render_events(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no events\n"
    lines = []
    for e in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"]))
        lines.append(f"{when}  {e['kind']:<10} {e['instance_id'] or '-':<36}  {e['message']}")
    return "\n".join(lines) + "\n"


# -- the dashboard --------------------------------------------------------------------------


def dashboard_rows(host: Host) -> list[dict[str, Any]]:
    """One row per instance, crashed first: the state from systemd (one call, always
    current), players and resources from the daemon's cache where it is fresh."""
    instances, _ = host.registry.scan()
    ip = host_ip()
    states = host.systemd.states("game@*.service") if instances else {}
    rows = []
    for inst in instances:
        st = states.get(inst.unit)
        status = status_of(st.active, st.sub) if st else Status.STOPPED
        running = status == Status.RUNNING
        cached = (
            (cache.read(run_dir(), cache.key("services", inst.app, ip, inst.id)) or {})
            if running
            else {}
        )
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
            }
        )
    order = {"crashed": 0, "starting": 1, "stopping": 2, "running": 3, "stopped": 4}
    rows.sort(key=lambda r: (order.get(str(r["status"]), 5), r["name"]))
    return rows


def render_dashboard(rows: list[dict[str, Any]], slugs: dict[str, str], width: int = 120) -> str:
    from .commands import _duration, _table

    table = [["ID", "NAME", "APP", "STATUS", "PLAYERS", "CPU", "MEMORY", "UPTIME", "PORTS"]]
    players = cpu = 0.0
    memory = 0
    for r in rows:
        p = "-" if r["players"] is None else f"{r['players']}/{r['max_players'] or '?'}"
        players += r["players"] or 0
        cpu += r["cpu_percent"] or 0
        memory += r["memory_bytes"] or 0
        table.append(
            [
                r["id"][:8],
                r["name"][:24],
                slugs.get(r["app"], r["app"][:8]),
                str(r["status"]),
                p,
                "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.0f}%",
                "-" if r["memory_bytes"] is None else metrics.human_bytes(r["memory_bytes"]),
                _duration(int(r["uptime"] or 0)) if r["status"] == "running" else "-",
                ",".join(str(v) for v in r["ports"].values()),
            ]
        )
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("running", "crashed")}
    total = (
        f"{len(rows)} instances, {counts['running']} running, {counts['crashed']} crashed; "
        f"{players:.0f} players; CPU {cpu:.0f}%; memory {metrics.human_bytes(memory)}"
    )
    body = _table(table) if rows else "no instances"
    return "\n".join(line[:width] for line in body.splitlines()) + "\n\n" + total + "\n"


def dashboard(host: Host, *, as_json: bool, watch: bool, interval: float = 2.0) -> int:
    from .commands import _slugs

    slugs = _slugs(host)
    if as_json or not watch:
        rows = dashboard_rows(host)
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            sys.stdout.write(render_dashboard(rows, slugs, _columns()))
        return 0
    try:  # Ctrl-C quits, whether it comes while drawing or while waiting
        while True:
            text = render_dashboard(dashboard_rows(host), slugs, _columns())
            # home, draw, clear what is left below: no blank screen between frames
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(
                f"\x1b[H{text}\nrefreshed {stamp}, every {interval:g} s; Ctrl-C quits\x1b[J"
            )
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave
        sys.stdout.write("\n")
        return 0


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size().columns
