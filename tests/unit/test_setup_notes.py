"""What setup says last: where the dashboard answers (from [api] in warlockd.toml) and the
two ways to log in; or that it is off, or that its settings cannot be read."""

from __future__ import annotations

import socket

from tests.unit.support import World
from warlockd.actions.setup import dashboard_notes


def _config(world: World, text: str) -> None:
    world.paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    world.paths.config_file.write_text(text)


def test_the_default_is_the_loopback_address_and_both_ways_in(world: World) -> None:
    url, how = dashboard_notes(world.host)
    assert url == "dashboard: http://127.0.0.1:8077/"
    assert "warlock user add --name NAME" in how and "warlock api-key create" in how


def test_the_configured_port_and_tls(world: World) -> None:
    _config(world, '[api]\nport = 9443\nlisten = "0.0.0.0"\ntls_self_signed = true\n')
    assert dashboard_notes(world.host)[0] == f"dashboard: https://{socket.getfqdn()}:9443/"
    _config(world, '[api]\nport = 9000\nlisten = "::1"\n')
    assert dashboard_notes(world.host)[0] == "dashboard: http://[::1]:9000/"


def test_off_or_unreadable_is_said_instead(world: World) -> None:
    _config(world, "[api]\nenabled = false\n")
    assert dashboard_notes(world.host) == [
        f"the dashboard is off ([api] enabled = false in {world.paths.config_file})"
    ]
    _config(world, "[api\n")
    (note,) = dashboard_notes(world.host)
    assert note.startswith("the dashboard's settings cannot be read:") and "TOML" in note
