"""Real game servers from Debian, two instances of each, managed on a real systemd."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import REPO, create, manage, services, show
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


# --- consoles: say (the warning before a delayed restart), --cmd, and their failures -------


def _journal(ct: SystemdContainer, iid: str) -> str:
    return ct.run(["journalctl", "--no-pager", "-o", "cat", f"WARLOCK_INSTANCE={iid}"]).stdout


def _journal_with(ct: SystemdContainer, iid: str, text: str) -> str:
    """The journal once it holds `text` (journald may take a moment)."""
    wait_for(lambda: text in _journal(ct, iid), timeout=10, message=repr(text))
    return _journal(ct, iid)


def _one_line_failure(ct: SystemdContainer, iid: str, text: str, code: int = 1) -> str:
    """`--cmd text` fails: the exit code, and one line on stderr; that line."""
    failed = manage(ct, "--instance", iid, "--cmd", text, check=False)
    assert failed.returncode == code, failed
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), failed.stderr
    return lines[0]


def _delayed_restart_warns_in_the_game(ct: SystemdContainer, iid: str, said: str) -> None:
    """Nobody can be counted (no query): it waits the full 12 s, telling the players at
    once and 10 s before, then restarts; the console works again after."""
    before = ct.systemctl("show", f"game@{iid}", "-p", "ExecMainPID").stdout
    manage(ct, "delayed-restart", "--instance", iid, "--warn", "12s", "--wait")
    journal = _journal_with(ct, iid, said.format(message="The server restarts in 12 seconds."))
    assert said.format(message="The server restarts in 10 seconds.") in journal
    assert ct.systemctl("show", f"game@{iid}", "-p", "ExecMainPID").stdout != before
    assert ct.systemctl("is-active", f"game@{iid}").stdout.strip() == "active"


def test_teeworlds_hears_say_over_its_econ_which_only_loopback_reaches(
    ct: SystemdContainer,
) -> None:
    _need("teeworlds")
    inst = create(ct, "--app", "teeworlds", "--instance-name", "Tee Console")
    iid, econ = str(inst["id"]), inst["ports"]["econ"]
    manage(ct, "--instance", iid, "--start")
    reply = manage(ct, "--instance", iid, "--cmd", "say hello from warlock").stdout
    assert "[chat]: *** hello from warlock" in reply
    _journal_with(ct, iid, "[chat]: *** hello from warlock")
    # the econ listens on 127.0.0.1 only, and its game's port is elsewhere
    listening = ct.run(["ss", "-Hltn", f"sport = :{econ}"]).stdout.split()
    assert listening[3::5] == [f"127.0.0.1:{econ}"], listening
    # its password: in no command line and no file once the server is up
    d = f"/etc/systemd/system/game@{iid}.service.d"
    secrets = ct.run(["cat", f"{d}/secrets.env"]).stdout
    password = next(v for v in secrets.splitlines() if v.startswith("WARLOCK_SECRET_ECON_"))
    password = password.split("=", 1)[1].strip('"')
    assert len(password) == 24 and password in secrets  # also in WARLOCK_FILE_0
    pid = services(ct, iid)["game_pid"]
    assert password not in ct.run(["cat", f"/proc/{pid}/cmdline"]).stdout
    assert password not in ct.run(["ps", "axww", "-o", "args"]).stdout
    assert password not in ct.run(["cat", f"{d}/50-warlock.conf"]).stdout
    ct.run(["test", "!", "-e", f"{inst['path']}/data/warlock-econ.cfg"])
    _delayed_restart_warns_in_the_game(ct, iid, "[chat]: *** {message}")
    assert "[Console]: ok" in manage(ct, "--instance", iid, "--cmd", "echo ok").stdout
    # a password that is not the server's (a record restored from elsewhere): one line
    record = ct.run(["grep", "-rl", password, "/var/lib/warlock", "--include=*.toml"]).stdout
    record = record.strip()
    ct.run(["sed", "-i", f"s/{password}/WrongPassword0123456789x/", record])
    line = _one_line_failure(ct, iid, "say hello")
    assert f"econ at 127.0.0.1:{econ} refused the password" in line
    ct.run(["sed", "-i", f"s/WrongPassword0123456789x/{password}/", record])
    _stop_cleanly_then(ct, inst, lambda: _one_line_failure(ct, iid, "say hello"))


def _stop_cleanly_then(
    ct: SystemdContainer, inst: dict[str, object], after_stop: Callable[[], str]
) -> str:
    """Stop the instance, check after_stop (what a console says to a stopped game), delete."""
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", str(inst["id"]), "--stop")
    assert show(ct, unit, "Result", "ExecMainStatus") == {"Result": "success",
                                                          "ExecMainStatus": "0"}  # fmt: skip
    said = after_stop()
    manage(ct, "--instance", str(inst["id"]), "--delete", "--yes", "--purge")
    return said


def test_minetest_hears_say_through_the_console_mod_in_its_world(ct: SystemdContainer) -> None:
    _need("minetest")
    inst = create(ct, "--app", "minetest", "--instance-name", "Blocks Console")
    iid, data = str(inst["id"]), f"{inst['path']}/data"
    manage(ct, "--instance", iid, "--start")
    said = manage(ct, "--instance", iid, "--cmd", "say hello from warlock")
    assert said.stdout == "" and "sent to" in said.stderr
    journal = _journal_with(ct, iid, "CHAT: <Server> hello from warlock")
    assert "[warlock_console] reading" in journal
    link = ct.run(["readlink", f"{data}/world/worldmods/warlock_console"]).stdout.strip()
    assert link == str(REPO / "bundled" / "minetest" / "warlock_console")
    assert "Current time is" in manage(ct, "--instance", iid, "--cmd", "time").stdout
    unknown = _one_line_failure(ct, iid, "nosuch thing", code=2)
    assert "no such command: nosuch" in unknown
    failed = _one_line_failure(ct, iid, "kick nobody")
    assert "kick on" in failed and "Failed to kick player nobody" in failed
    _delayed_restart_warns_in_the_game(ct, iid, "CHAT: <Server> {message}")
    line = _stop_cleanly_then(ct, inst, lambda: _one_line_failure(ct, iid, "say hello"))
    assert "is not reading its console" in line
