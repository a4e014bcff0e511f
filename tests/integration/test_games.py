"""Real game servers from Debian, two instances of each, managed on a real systemd."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import create, manage, services, show
from warlockd.query import query

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
            ct.run(["test", "-f", f"{inst['path']}/data/world/world.mt"])
    for inst in (a, b):
        _stop_cleanly(ct, inst)


def _user(inst: dict[str, object]) -> str:
    return "wl-" + str(inst["id"]).replace("-", "")[:12]


def _admins_file(ct: SystemdContainer, inst: dict[str, object], rel: str, text: str) -> str:
    """A config file the admin wrote by hand (a comment, a key warlockd does not know), as
    the game's user owns it; its path."""
    path = f"{inst['path']}/data/{rel}"
    ct.run(["sh", "-c", f"mkdir -p $(dirname {path}) && cat > {path}"], input=text)
    ct.run(["chown", "-R", f"{_user(inst)}:{_user(inst)}", f"{inst['path']}/data"])
    return path


def _set(ct: SystemdContainer, inst: dict[str, object], option: str, value: str) -> None:
    manage(ct, "--instance", str(inst["id"]), "--set-config", option, value)


def test_openarena_settings_reach_the_game_through_its_config_file(ct: SystemdContainer) -> None:
    _need("openarena")
    inst = create(ct, "--app", "openarena", "--instance-name", "Arena")
    cfg = _admins_file(ct, inst, "home/baseoa/server.cfg",
                       '// the admin\'s note\nset g_warlock_custom "1"\n')  # fmt: skip
    _set(ct, inst, "Max Players", "5")
    _set(ct, inst, "Server Name", "Arena Five")
    text = ct.run(["cat", cfg]).stdout
    assert "// the admin's note" in text and 'set g_warlock_custom "1"' in text
    assert 'sv_maxclients "5"' in text and 'sv_hostname "Arena Five"' in text
    iid = str(inst["id"])
    manage(ct, "--instance", iid, "--start")
    port = inst["ports"]["game"]
    status = wait_for(lambda: query("quake3", port, timeout=1), timeout=20, message="getstatus")
    assert status is not None and (status.max_players, status.name) == (5, "Arena Five")
    nobody = manage(ct, "--instance", iid, "--has-players", check=False)
    assert nobody.returncode == 1, nobody.stderr
    manage(ct, "--instance", iid, "--cmd", "addbot sarge 1")
    wait_for(lambda: services(ct, iid)["player_count"] == 1, timeout=15, message="a bot")
    assert manage(ct, "--instance", iid, "--has-players", check=False).returncode == 0
    _stop_cleanly(ct, inst)


def test_teeworlds_settings_reach_the_game_through_its_config_file(ct: SystemdContainer) -> None:
    _need("teeworlds")
    inst = create(ct, "--app", "teeworlds", "--instance-name", "Tee")
    cfg = _admins_file(ct, inst, "server.cfg", "# the admin's note\nsv_warlock_custom 1\n")
    _set(ct, inst, "Server Name", "Tee Five")
    _set(ct, inst, "Max Players", "5")
    text = ct.run(["cat", cfg]).stdout
    assert "# the admin's note" in text and "sv_warlock_custom 1" in text
    iid = str(inst["id"])
    manage(ct, "--instance", iid, "--start")
    journal = ct.run(["journalctl", "--no-pager", "-o", "cat", "-u", f"game@{iid}"]).stdout
    assert "server name is 'Tee Five'" in journal
    _stop_cleanly(ct, inst)


def test_minetest_settings_reach_the_game_through_its_config_file(ct: SystemdContainer) -> None:
    _need("minetest")
    inst = create(ct, "--app", "minetest", "--instance-name", "Blocks")
    conf = _admins_file(ct, inst, ".minetest/minetest.conf",
                        "# the admin's note\nwarlock_custom_key = 1\n")  # fmt: skip
    _set(ct, inst, "Creative Mode", "true")
    _set(ct, inst, "Server Name", "Blocks Five")
    text = ct.run(["cat", conf]).stdout
    assert "# the admin's note" in text and "warlock_custom_key = 1" in text
    assert "creative_mode = true" in text and "server_name = Blocks Five" in text
    manage(ct, "--instance", str(inst["id"]), "--start")
    # minetest writes a new world's game settings from its configuration into world.mt
    world = ct.run(["cat", f"{inst['path']}/data/world/world.mt"]).stdout
    assert "creative_mode = true" in world.splitlines()
    _stop_cleanly(ct, inst)
