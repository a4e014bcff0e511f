"""get-metrics, metrics and events: what warlockd.service keeps (its ready answers under
/run/warlock, the history in warlock.db), or measured now when it is down."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .. import answers, metrics
from ..apps import find_app
from ..errors import InvalidInput
from ..host import Host
from ..model import Instance
from ..report import host_ip, service
from . import Args, Outcome, one, some

_DURATION_RE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, option: str = "--since") -> float:
    """`90s`, `15m`, `1h`, `2d`, `1w` -> seconds."""
    m = _DURATION_RE.fullmatch(text.strip())
    if not m:
        raise InvalidInput(f"{option} {text!r}: expected a duration such as 15m, 1h or 2d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def instance_metrics(host: Host, inst: Instance, ip: str) -> dict[str, Any]:
    """From the daemon's cache when it is fresh, else measured now (daemon down)."""
    # the daemon's ready answer, when it is fresh and its record is the one on disk
    ready = answers.read(str(host.paths.runtime), str(host.paths.state), inst.id, "metrics")
    if ready is not None:
        row: dict[str, Any] = json.loads(ready)[inst.service]
        return row
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
        "disk_bytes": None,  # the daemon measures disk on its slower cadence
        "sampled_at": time.time(),
        "source": "live",
    }


def do_get_metrics(host: Host, args: Args) -> Outcome:
    """get-services plus CPU and memory, from warlockd's cache (live when it is down)."""
    ip = host_ip()
    return Outcome({i.service: instance_metrics(host, i, ip) for i in some(host, args)})


def _store(host: Host) -> Any:
    from ..store import Store

    return Store(host.paths.database)


def history(host: Host, inst: Instance, since: float) -> list[dict[str, Any]]:
    store = _store(host)
    try:
        return [s.__dict__ for s in store.metrics(inst.id, time.time() - since)]
    finally:
        store.close()


def events(host: Host, inst: Instance | None, since: float) -> list[dict[str, Any]]:
    store = _store(host)
    try:
        found = store.events(time.time() - since, instance_id=inst.id if inst else None)
        return [e.__dict__ for e in found]
    finally:
        store.close()


def do_metrics(host: Host, args: Args) -> Outcome:
    since = parse_since(args.since or "1h")
    inst = one(host, args)
    return Outcome(history(host, inst, since), view={"since": args.since or "1h"})


def do_events(host: Host, args: Args) -> Outcome:
    since = parse_since(args.since or "1d")
    inst = host.registry.resolve(args.instance) if args.instance else None
    return Outcome(events(host, inst, since))
