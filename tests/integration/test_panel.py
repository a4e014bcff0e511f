"""A Warlock panel finds and drives warlockd's instances, unmodified, on a real systemd:
discovery over /var/lib/warlock/*.app, `--help` parsed by both panel generations, every
contract command in both dialects through the manage.py at a registered path, checked
with the panels' own parsing rules (tests/panel.py); both registration layouts; and the
game's user unable to touch what root runs."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from tests import panel
from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import create, manage
from warlockd.query import warlock_status

GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"  # the example game's
CONTRACT = [  # what the panels call or look for in --help (warlock-contract.md)
    "get-services", "get-metrics", "get-configs", "set-config", "get-ports", "is-running",
    "has-players", "get-commands", "cmd", "rcon", "create-service", "remove-service",
    "first-run", "remove", "backup", "restore", "check-update", "update", "start", "stop",
    "restart",
]  # fmt: skip


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        yield booted


def remote(ct: SystemdContainer, command: str, check: bool = True) -> Any:
    """A command line as the panel sends it over SSH: run by the host's shell as root."""
    line = panel.ssh_remote(command)  # what `ssh root@host '...'` hands the remote shell
    return ct.run(["sh", "-c", line], check=check, timeout=180)


def found(ct: SystemdContainer) -> list[tuple[str, str]]:
    def run(script: str) -> bytes:
        return str(ct.run(["sh", "-c", script]).stdout).encode()

    return panel.discover("/var/lib/warlock", run=run)


def test_each_instance_is_found_and_driven_through_its_manage_py(ct: SystemdContainer) -> None:
    a = create(ct, "--instance-name", "Alpha")
    b = create(ct, "--instance-name", "Beta")
    manage(ct, "--instance", a["id"], "--start")
    paths = dict(found(ct))
    # the upstream panel takes everything before `.app` as the guid; the path is right
    assert paths == {f"{GUID}.{a['id']}": a["path"], f"{GUID}.{b['id']}": b["path"]}
    assert panel.fork_mi_name(f"{GUID}.{a['id']}") == (GUID, a["id"])
    path = a["path"]
    text = remote(ct, f"{path}/manage.py --help").stdout
    up = panel.up_help(text)
    assert (up.version, up.dialect) == ("2.2.0", "v2")
    assert set(CONTRACT) <= set(up.options), set(CONTRACT) - set(up.options)
    fork = panel.fork_options(text)
    assert {f"{c}" for c in CONTRACT if c != "cmd"} <= set(fork), set(CONTRACT) - set(fork)

    for dialect in ("v1", "v2"):
        version = "1.0.0" if dialect == "v1" else up
        services = json.loads(
            remote(ct, panel.up_command(path, "get-services", version=version)).stdout
        )
        assert panel.check_get_services(services, dialect) == []
        assert list(services) == [f"game@{a['id']}"]  # this instance only, no .service
        svc = services[f"game@{a['id']}"]
        assert (svc["status"], svc["name"], svc["instance_id"]) == ("running", "Alpha", a["id"])
        assert svc["bak_dir"] == f"{path}/backups"
        metrics = json.loads(
            remote(ct, panel.up_command(path, "get-metrics", version=version)).stdout
        )
        assert panel.check_get_metrics(metrics) == []
        assert panel.metric_row(metrics[f"game@{a['id']}"])["status"] == 1
        configs = json.loads(
            remote(ct, panel.up_command(path, "get-configs", version=version)).stdout
        )
        assert panel.check_get_configs(configs, dialect) == []
        assert {c["option"] for c in configs} >= {
            "Server Name",
            "Max Players",
            "Message of the Day",
        }
        assert all(c["instance_id"] == a["id"] and c["name"] == "Alpha" for c in configs)
        ports = json.loads(remote(ct, panel.up_command(path, "get-ports", version=version)).stdout)
        assert panel.check_get_ports(ports) == []
        assert {p["value"] for p in ports} == {a["ports"]["game"]}
        commands = json.loads(
            remote(ct, panel.up_command(path, "get-commands", version=version)).stdout
        )
        assert panel.check_get_commands(commands) == [] and "say" in commands
        running = remote(ct, panel.up_command(path, "is-running", version=version), check=False)
        assert running.returncode == 0
        stopped = remote(ct, f"{b['path']}/manage.py --is-running", check=False)
        assert stopped.returncode == 1
        nobody = remote(ct, panel.up_command(path, "has-players", version=version), check=False)
        assert nobody.returncode == 1  # its query answers: nobody plays


def test_set_config_is_validated_written_and_applied_by_a_restart(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Settings")
    path, iid = inst["path"], inst["id"]
    manage(ct, "--instance", iid, "--start")
    out = json.loads(
        remote(ct, panel.up_command(path, "set-config", ["Max Players", 5], version="2")).stdout
    )
    assert (out["old"], out["new"], out["restart_needed"]) == (None, 5, True)
    remote(ct, panel.fork_command(path, "set-config", "Server Name", "Renamed by the panel"))
    services = json.loads(remote(ct, f"{path}/manage.py get-services").stdout)
    assert services[f"game@{iid}"]["restart_needed"] is True
    assert services[f"game@{iid}"]["name"] == "Renamed by the panel"  # the record too
    settings = json.loads(ct.run(["cat", f"{path}/data/settings.json"]).stdout)
    assert settings == {"max_players": 5, "name": "Renamed by the panel"}
    before = warlock_status("127.0.0.1", inst["ports"]["game"], timeout=2)
    assert before is not None and before.max_players == 16  # read at start: not yet
    manage(ct, "--instance", iid, "--restart")
    after = warlock_status("127.0.0.1", inst["ports"]["game"], timeout=2)
    assert after is not None and (after.max_players, after.name) == (5, "Renamed by the panel")
    services = json.loads(remote(ct, f"{path}/manage.py get-services").stdout)
    assert services[f"game@{iid}"]["restart_needed"] is False
    # refused, one line, nothing changed
    for bad in (["Max Players", "lots"], ["Max Players", "0"], ["No Such", "1"],
                ["Server Name", 'a"b'], ["Map", "moon"]):  # fmt: skip
        result = remote(ct, f"{path}/manage.py set-config {shlex.join(bad)}", check=False)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert json.loads(ct.run(["cat", f"{path}/data/settings.json"]).stdout) == settings


def test_create_service_and_remove_service_as_the_upstream_panel_calls_them(
    ct: SystemdContainer,
) -> None:
    base = create(ct, "--instance-name", "Base")
    path = base["path"]
    made = remote(ct, panel.up_command(path, "create-service", service="Second", version="2"))
    unit = panel.created_service(made.stdout)
    assert unit is not None and unit.startswith("game@") and not unit.endswith(".service")
    new_id = unit.removeprefix("game@")
    listed = json.loads(manage(ct, "list", "--json").stdout)
    assert {"Second", "Base"} <= {i["name"] for i in listed if i["app"] == GUID}
    taken = remote(ct, f"{path}/manage.py create-service --service Second", check=False)
    assert taken.returncode != 0 and "Second" in taken.stderr
    remote(ct, panel.up_command(path, "remove-service", service=unit, version="2"))
    assert new_id not in {i["id"] for i in json.loads(manage(ct, "list", "--json").stdout)}


def test_the_game_layout_lists_each_game_once_with_its_instances_as_services(
    ct: SystemdContainer,
) -> None:
    for inst in json.loads(manage(ct, "list", "--json").stdout):
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
    a = create(ct, "--instance-name", "One")
    b = create(ct, "--instance-name", "Two")
    ct.run(["sh", "-c", "mkdir -p /etc/warlock && printf '[panel]\\nregistration = \"game\"\\n'"
                        " > /etc/warlock/warlockd.toml"])  # fmt: skip
    done = manage(ct, "setup").stderr
    assert "registered /var/lib/warlock/" in done
    game_dir = f"/var/lib/warlock/games/{GUID}"
    assert found(ct) == [(GUID, game_dir)]
    text = remote(ct, f"{game_dir}/manage.py --help").stdout
    assert panel.up_help(text).dialect == "v2"
    services = json.loads(remote(ct, f"{game_dir}/manage.py get-services").stdout)
    assert panel.check_get_services(services, "v2") == []
    assert set(services) == {f"game@{a['id']}", f"game@{b['id']}"}
    one = json.loads(
        remote(ct, panel.up_command(game_dir, "get-metrics", service=f"game@{a['id']}")).stdout
    )
    assert list(one) == [f"game@{a['id']}"]
    made = remote(ct, f"{game_dir}/manage.py create-service --service Three")
    unit = panel.created_service(made.stdout)
    assert unit is not None
    services = json.loads(remote(ct, f"{game_dir}/manage.py get-services").stdout)
    assert len(services) == 3 and services[unit]["name"] == "Three"
    # switching back rewrites the registrations and nothing else
    ct.run(["rm", "/etc/warlock/warlockd.toml"])
    manage(ct, "setup")
    assert {g for g, _ in found(ct)} == {f"{GUID}.{i}" for i in (a["id"], b["id"], unit[5:])}


def test_the_games_user_cannot_change_what_root_runs(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Hostile")
    path, user = inst["path"], "wl-" + inst["id"].replace("-", "")[:12]

    def as_game(script: str) -> Any:
        return ct.run(["runuser", "-u", user, "--", "sh", "-c", script], check=False)

    shim = ct.run(["cat", f"{path}/manage.py"]).stdout
    for attempt in (
        f"cp /bin/true {path}/manage.py",
        f"mv {path}/manage.py {path}/old",
        f"mv {path}/data {path}/mine && mkdir {path}/data",
        f"ln -s /etc/shadow {path}/backups/evil.tar.gz",
        f"ln -s /etc {path}/evil",
    ):
        assert as_game(attempt).returncode != 0, attempt
    assert ct.run(["cat", f"{path}/manage.py"]).stdout == shim
    assert ct.run(["stat", "-c", "%U %a", path, f"{path}/manage.py"]).stdout.split() == [
        "root", "755", "root", "755",
    ]  # fmt: skip
    # what it may do, in its own data/: a link where root reads a config file
    assert as_game(f"ln -sf /etc/shadow {path}/data/settings.json").returncode == 0
    shadow = ct.run(["stat", "-c", "%Y %s", "/etc/shadow"]).stdout
    refused = manage(ct, "--instance", inst["id"], "--set-config", "Max Players", "4", check=False)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1
    read = manage(ct, "--instance", inst["id"], "--get-configs", check=False)
    assert read.returncode != 0 and "root:" not in read.stdout + read.stderr
    assert ct.run(["stat", "-c", "%Y %s", "/etc/shadow"]).stdout == shadow


def test_a_running_instance_of_an_older_layout_moves_at_its_next_start(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Old")
    iid, path = inst["id"], inst["path"]
    user = "wl-" + iid.replace("-", "")[:12]
    # as an earlier warlockd left it: the game's files in the top, which the game owns,
    # no manage.py, a drop-in that names the top, and a record without a layout
    record = f"/var/lib/warlock/{GUID}.{iid}.toml"
    dropin = f"/etc/systemd/system/game@{iid}.service.d/50-warlock.conf"
    ct.run(["sh", "-c", f"""set -e
        mv {path}/data/* {path}/ 2>/dev/null || true; rmdir {path}/data; rm {path}/manage.py
        chown {user}:{user} {path}; chmod 750 {path}
        sed -i '/^layout = /d' {record}
        sed -i 's#{path}/data#{path}#g' {dropin}
        systemctl daemon-reload"""])  # fmt: skip
    manage(ct, "--instance", iid, "--start")
    manage(ct, "--instance", iid, "--cmd", "save")
    wait_for(lambda: ct.run(["test", "-f", f"{path}/world.json"], check=False).returncode == 0,
             timeout=10, message="the old-layout game saved its world")  # fmt: skip
    pid = ct.run(["systemctl", "show", "-P", "MainPID", f"game@{iid}"]).stdout.strip()
    notes = manage(ct, "setup").stderr
    assert f"game@{iid}.service runs: its files move" in notes
    assert ct.run(["systemctl", "show", "-P", "MainPID", f"game@{iid}"]).stdout.strip() == pid
    assert "ExecStartPre=+" in ct.run(["cat", dropin]).stdout
    manage(ct, "--instance", iid, "--restart")  # the unit moves the files first, as root
    assert ct.run(["stat", "-c", "%U", path]).stdout.strip() == "root"
    assert ct.run(["test", "-x", f"{path}/manage.py"], check=False).returncode == 0
    world = json.loads(ct.run(["cat", f"{path}/data/world.json"]).stdout)
    assert world["tick"] > 0  # the game goes on from what it saved before the move
    services = json.loads(remote(ct, f"{path}/manage.py get-services").stdout)
    assert services[f"game@{iid}"]["status"] == "running"
