"""Real game servers from Debian, two instances of each, managed on a real systemd."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import create, manage, services, show

GAMES = {"openarena": "/usr/games/openarena-server", "minetest": "/usr/games/minetestserver",
         "teeworlds": "/usr/games/teeworlds-server"}  # fmt: skip


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        yield booted


def _need(game: str) -> None:
    import os

    if shutil.which(GAMES[game]) is None and os.environ.get("WARLOCK_REQUIRE_SYSTEMD") != "1":
        pytest.skip(f"{GAMES[game]} is not installed (scripts/deps installs it)")


def _pair(ct: SystemdContainer, game: str) -> list[dict[str, object]]:
    made = [create(ct, "--app", game, "--instance-name", f"{game} {n}") for n in ("CTF", "FFA")]
    for inst in made:
        manage(ct, "--instance", str(inst["id"]), "--start")
    return made


def _stop_cleanly(ct: SystemdContainer, inst: dict[str, object]) -> None:
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", str(inst["id"]), "--stop")
    assert show(ct, unit, "Result", "ExecMainStatus") == {
        "Result": "success",
        "ExecMainStatus": "0",
    }
    manage(ct, "--instance", str(inst["id"]), "--delete", "--yes", "--purge")


def test_two_openarena_servers_run_side_by_side_and_count_their_bots(ct: SystemdContainer) -> None:
    _need("openarena")
    a, b = _pair(ct, "openarena")
    assert a["ports"] != b["ports"]
    for inst in (a, b):
        svc = services(ct, str(inst["id"]))
        assert svc["status"] == "running" and svc["player_count"] == 0 and svc["max_players"] == 12
    reply = manage(ct, "--instance", str(a["id"]), "--cmd", "addbot sarge 1").stdout
    assert "sarge" in reply.lower()
    manage(ct, "--instance", str(a["id"]), "--cmd", "addbot grunt 1")
    wait_for(lambda: services(ct, str(a["id"]))["player_count"] == 2, timeout=15, message="2 bots")
    assert {"Sarge", "Grunt"} <= set(services(ct, str(a["id"]))["players"])
    assert services(ct, str(b["id"]))["player_count"] == 0  # the other instance is untouched
    _secrets_are_root_only(ct, str(a["id"]))
    for inst in (a, b):
        _stop_cleanly(ct, inst)


def _secrets_are_root_only(ct: SystemdContainer, instance_id: str) -> None:
    """The rcon password (it worked above: systemd expanded it into the game's arguments)
    is in the root-only secrets file, not in the drop-in or `systemctl show`."""
    unit = f"game@{instance_id}.service"
    d = f"/etc/systemd/system/{unit}.d"
    assert ct.run(["stat", "-c", "%a %U", f"{d}/secrets.env"]).stdout.split() == ["600", "root"]
    lines = ct.run(["cat", f"{d}/secrets.env"]).stdout.splitlines()
    password = next(v for v in lines if v.startswith("WARLOCK_SECRET_RCON_PASSWORD="))
    password = password.split("=", 1)[1].strip('"')
    assert len(password) == 20
    shown = ct.run(["systemctl", "show", unit, "-p", "Environment", "-p", "ExecStart"]).stdout
    assert password not in ct.run(["cat", f"{d}/50-warlock.conf"]).stdout + shown
    assert "${WARLOCK_SECRET_RCON_PASSWORD}" in shown
    denied = ct.run(["runuser", "-u", "nobody", "--", "cat", f"{d}/secrets.env"], check=False)
    assert denied.returncode != 0 and password not in denied.stdout
    svc = services(ct, instance_id)
    assert password in ct.run(["cat", f"/proc/{svc['game_pid']}/cmdline"]).stdout
    # the runner's copy, for a stop over rcon, comes from the secrets file too
    environ = ct.run(["cat", f"/proc/{svc['service_pid']}/environ"]).stdout.split("\0")
    assert f"WARLOCK_RCON_PASSWORD={password}" in environ


@pytest.mark.parametrize("game", ["minetest", "teeworlds"])
def test_two_servers_of_a_debian_game_run_side_by_side(ct: SystemdContainer, game: str) -> None:
    _need(game)
    a, b = _pair(ct, game)
    assert a["ports"] != b["ports"]
    for inst in (a, b):
        unit = f"game@{inst['id']}.service"
        assert ct.systemctl("is-active", unit).stdout.strip() == "active"
        port = inst["ports"]["game"]  # type: ignore[index]
        bound = ct.run(["ss", "-Hlun", f"sport = :{port}"]).stdout
        assert f":{port}" in bound
        assert show(ct, unit, "User")["User"].startswith("wl-")
    if game == "minetest":
        for inst in (a, b):  # each instance has its own world in its own directory
            ct.run(["test", "-f", f"{inst['path']}/world/world.mt"])
    for inst in (a, b):
        _stop_cleanly(ct, inst)
