"""get-services, get-ports, status and list: what runs, in the shapes panels and people read.

get-services asks systemd and the game's query now (one instance) or for every instance;
list takes one D-Bus round trip for all of them and reads uptimes from /proc.
"""

from __future__ import annotations

from typing import Any

from .. import schedules
from ..apps import app_slugs, find_app
from ..host import Host
from ..model import Instance, status_of
from ..registry import Problem
from ..report import host_ip, port_list, service
from . import Args, Outcome, one, some
from .dashboard import next_run


def do_get_services(host: Host, args: Args) -> Outcome:
    ip = host_ip()
    return Outcome(
        {
            i.service: service(i, find_app(host.paths, i.app), host.systemd.state(i.unit), ip)
            for i in some(host, args)
        }
    )


def do_get_ports(host: Host, args: Args) -> Outcome:
    """The Warlock panel's port list (one entry per protocol), for its firewall page."""
    rows = [row for i in some(host, args) for row in port_list(i, find_app(host.paths, i.app))]
    return Outcome(rows)


def do_status(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    app = find_app(host.paths, inst.app)
    svc = service(inst, app, host.systemd.state(inst.unit), host_ip())
    timers = host.systemd.timers(f"{schedules.TEMPLATE}*.timer") if inst.schedules else {}
    view = {"title": app.title, "path": inst.path, "next_schedule": next_run(inst, timers)}
    return Outcome(svc | {"next_schedule": view["next_schedule"]}, view=view)


def listing(host: Host) -> tuple[list[tuple[Instance, dict[str, Any]]], list[Problem]]:
    """Every instance with its live state, from one D-Bus round trip."""
    from .. import procs

    instances, problems = host.registry.scan()
    states = host.systemd.states("game@*.service") if instances else {}
    rows = []
    for inst in instances:
        unit = inst.unit
        st = states.get(unit)
        status = status_of(st.active, st.sub) if st else status_of("inactive", "dead")
        since = procs.unit_started(unit) if status == "running" else 0.0
        rows.append((inst, {"status": str(status), "uptime": procs.uptime(since)}))
    return rows, problems


def do_list(host: Host, args: Args) -> Outcome:
    rows, problems = listing(host)
    notes = tuple(f"warning: skipped {p}" for p in problems)
    data = [inst.public() | live for inst, live in rows]
    # the table for people shows slugs; reading every manifest is not worth it for JSON
    return Outcome(data, notes, view=None if args.json else app_slugs(host.paths))
