"""The JSON shapes Warlock panels parse (warlock-contract.md), plus `instance_id`."""

from __future__ import annotations

import socket
from typing import Any

from . import layout, links, procs
from .apps import App
from .model import PANEL_STATUS, Instance, Status, status_of
from .query import query
from .systemd import UnitState


def host_ip() -> str:
    """The address other hosts reach us on: the source of the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def ports_of(inst: Instance, app: App) -> list[dict[str, Any]]:
    return [
        {
            "port": inst.ports[p.key],
            "protocol": p.protocol.value.upper(),
            "description": p.description,
            "option": p.key,
        }
        for p in app.ports
    ]


def port_list(inst: Instance, app: App) -> list[dict[str, Any]]:
    """`get-ports` in the panel's shape: `config` names the setting that moves a port;
    warlockd allocates every port itself, so it is always null."""
    return [
        {
            "value": inst.ports[p.key],
            "config": None,
            "service": inst.service,
            "protocol": proto,
            "description": p.description,
            "key": p.key,
            "instance_id": inst.id,
            "name": inst.name,
        }
        for p in app.ports
        for proto in (("TCP", "UDP") if p.protocol == "both" else (p.protocol.value.upper(),))
    ]


def panel_status(status: str) -> dict[str, Any]:
    """`status` as Warlock panels know it (running, stopped, starting, stopping), and
    whether the instance crashed (which panels see as stopped)."""
    return {"status": PANEL_STATUS.get(Status(status), status), "crashed": status == "crashed"}


def _field(state: UnitState, key: str, running: bool) -> str | None:
    return links.field(state.status_text, key) if running else None


def service(
    inst: Instance, app: App, state: UnitState, ip: str, probe: bool = True
) -> dict[str, Any]:
    status = status_of(state.active, state.sub)
    running = status == "running"
    players = (
        query(app.query, inst.ports[app.query_port])
        if probe and running and app.query_port
        else None
    )
    kids = procs.children(state.main_pid) if state.main_pid else []
    game_pid = kids[0] if kids else 0  # the runner's child
    return {
        "service": inst.service,
        "name": inst.name,
        "instance_id": inst.id,
        "app": app.slug,
        "app_guid": app.guid,
        "ip": ip,
        "port": inst.ports[app.ports[0].key],
        "ports": ports_of(inst, app),
        **panel_status(status),
        "restart_needed": running and state.since < inst.settings_changed,
        "enabled": state.unit_file_state == "enabled",
        "player_count": players.player_count if players else None,
        "players": list(players.players) if players else [],
        "max_players": players.max_players if players else inst.max_players or app.max_players,
        "uptime": procs.uptime(state.since) if running else 0,
        "restarts": state.restarts,
        "result": state.result,
        "service_pid": state.main_pid,
        "game_pid": game_pid,
        "app_dir": str(layout.data_dir(inst)),  # the game's own files, config and saves
        "bak_dir": str(layout.backups_dir(inst)),
        "version": inst.build,
        "loader": None,
        # where a game's query tells its session (Assetto Corsa: and its track), else what
        # the runner put in the unit's status (as warlockd's ready answers show it, so the
        # two agree), and the join link it found there (links.py)
        "map": (players.map or None)
        if players and players.session
        else _field(state, "map", running),
        "session": (players.session or None) if players else _field(state, "session", running),
        "link": _field(state, "join", running),
    }
