"""manage.py against a real systemd: instances as game@<id>.service, side by side."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from warlockd.query import warlock_status

REPO = Path(__file__).resolve().parents[2]
MANAGE = ["/usr/bin/python3", str(REPO / "manage.py")]
EXAMPLE_GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    """A container of this module's own, so ports and units start from nothing."""
    with SystemdContainer() as booted:
        yield booted


def manage(
    ct: SystemdContainer, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return ct.run([*MANAGE, *args], check=check, timeout=180)


def create(ct: SystemdContainer, *args: str) -> dict[str, Any]:
    out = manage(ct, "--create", "--app", "example", *args).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def show(ct: SystemdContainer, unit: str, *props: str) -> dict[str, str]:
    out = ct.run(["systemctl", "show", unit, *(f"-p{p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def services(ct: SystemdContainer, instance_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        manage(ct, "--instance", instance_id, "--get-services").stdout
    )
    svc: dict[str, Any] = data[f"game@{instance_id}"]  # panels add .service themselves
    return svc


def test_three_example_instances_run_side_by_side_on_distinct_ports(ct: SystemdContainer) -> None:
    made = [create(ct, "--instance-name", f"Friday night {n}") for n in range(3)]
    for n, inst in enumerate(made):
        # both spellings reach the same implementation
        args = (
            ("--instance", inst["id"], "--start") if n % 2 else ("start", "--instance", inst["id"])
        )
        manage(ct, *args)
    ports = [inst["ports"]["game"] for inst in made]
    assert len(set(ports)) == 3
    for inst in made:
        unit = f"game@{inst['id']}.service"
        assert ct.systemctl("is-active", unit).stdout.strip() == "active"
        props = show(ct, unit, "User", "Description", "MainPID")
        assert props["User"] == "wl-" + inst["id"].replace("-", "")[:12]
        assert inst["name"] in props["Description"]
        svc = services(ct, inst["id"])
        assert svc["status"] == "running"
        assert svc["instance_id"] == inst["id"]
        assert svc["service_pid"] == int(props["MainPID"]) > 0
        assert svc["player_count"] == 0 and svc["max_players"] == 16
        # the network namespace is shared: the server answers the host on its own port
        answer = warlock_status("127.0.0.1", inst["ports"]["game"], timeout=2)
        assert answer is not None and answer.player_count == 0
        log = ct.run(["journalctl", "--no-pager", "-o", "cat", f"WARLOCK_INSTANCE={inst['id']}"])
        assert f"[{inst['id']}] started" in log.stdout
    table = manage(ct, "list").stdout
    for inst in made:
        row = next(line for line in table.splitlines() if line.startswith(inst["id"]))
        assert "running" in row and f"game={inst['ports']['game']}" in row
    # the panel's firewall list: each instance's port, once per protocol, the one bound
    listed = json.loads(manage(ct, "get-ports").stdout)
    for inst in made:
        mine = [(p["protocol"], p["value"]) for p in listed if p["instance_id"] == inst["id"]]
        assert mine == [("TCP", inst["ports"]["game"]), ("UDP", inst["ports"]["game"])]
    for inst in made:
        manage(ct, "stop", "--instance", inst["id"])
        assert ct.systemctl("is-active", f"game@{inst['id']}.service").stdout.strip() == "inactive"
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_players_joining_through_the_console_show_in_get_services(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Console")
    manage(ct, "--instance", inst["id"], "--start")
    manage(ct, "--instance", inst["id"], "--cmd", "join 3")
    wait_for(lambda: services(ct, inst["id"])["player_count"] == 3, timeout=10, message="3 players")
    logs = manage(ct, "logs", "--instance", inst["id"], "--lines", "20").stdout
    assert "players 0 -> 3/16" in logs and "Started game@" in logs
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_crashed_instance_is_restarted_by_systemd(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Crashy")
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", inst["id"], "--start")
    first_pid = services(ct, inst["id"])["service_pid"]
    manage(ct, "cmd", "--instance", inst["id"], "crash")

    def restarted() -> bool:
        props = show(ct, unit, "NRestarts", "ActiveState", "MainPID")
        return props["NRestarts"] == "1" and props["ActiveState"] == "active"

    wait_for(restarted, timeout=30, interval=0.5, message="systemd restarted the crashed server")
    svc = services(ct, inst["id"])
    assert svc["restarts"] == 1 and svc["status"] == "running"
    assert svc["service_pid"] != first_pid
    assert "restarts 1" in manage(ct, "status", "--instance", inst["id"]).stdout
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_start_of_a_server_that_exits_at_once_fails_with_its_last_log_lines(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Broken", "--env", "SERVER_PORT=not-a-port")
    result = manage(ct, "--instance", inst["id"], "--start", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "start job failed" in result.stderr and "SERVER_PORT" in result.stderr
    svc = services(ct, inst["id"])  # panels know no "crashed": stopped, with crashed beside
    assert (svc["status"], svc["crashed"]) in (("stopped", True), ("starting", False))
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_start_refuses_a_port_a_host_process_took_meanwhile(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Squatted", "--port", "game=31555")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("0.0.0.0", 31555))
        result = manage(ct, "--instance", inst["id"], "--start", check=False)
    assert result.returncode == 1
    assert "31555" in result.stderr and "is taken by" in result.stderr
    assert ct.systemctl("is-active", f"game@{inst['id']}.service").stdout.strip() == "inactive"
    out = manage(ct, "events", "--instance", inst["id"], "--since", "1h", "--json").stdout
    assert [e["kind"] for e in json.loads(out)] == ["port_conflict"]
    manage(ct, "--instance", inst["id"], "--start")  # free again
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_enable_makes_an_instance_start_at_boot_and_disable_undoes_it(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Boot")
    unit = f"game@{inst['id']}.service"
    wants = Path("/etc/systemd/system/multi-user.target.wants") / unit
    manage(ct, "enable", "--instance", inst["id"])
    assert ct.systemctl("is-enabled", unit).stdout.strip() == "enabled"
    assert ct.run(["test", "-L", str(wants)], check=False).returncode == 0
    record = ct.run(["cat", f"/var/lib/warlock/{EXAMPLE_GUID}.{inst['id']}.toml"]).stdout
    assert "enabled = true" in record
    manage(ct, "--instance", inst["id"], "--disable")
    assert ct.systemctl("is-enabled", unit).stdout.strip() == "disabled"
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_delete_with_purge_leaves_nothing_behind(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Gone")
    iid, user = inst["id"], "wl-" + inst["id"].replace("-", "")[:12]
    manage(ct, "--instance", iid, "--start")
    manage(ct, "delete", "--instance", iid, "--yes", "--purge")
    assert ct.systemctl("is-active", f"game@{iid}.service").stdout.strip() == "inactive"
    leftovers = ct.run(
        [
            "bash",
            "-c",
            f"ls -d /etc/systemd/system/game@{iid}.service.d /var/lib/warlock/*{iid}* "
            f"{inst['path']} 2>/dev/null; getent passwd {user}; getent group {user}; true",
        ]
    ).stdout
    assert leftovers == ""


def test_concurrent_creates_never_share_a_port(ct: SystemdContainer) -> None:
    script = (
        " & ".join(
            f"{shlex.join(MANAGE)} --create --app example --instance-name C{n} > /root/c{n}.json"
            for n in range(5)
        )
        + " & wait"
    )
    ct.run(["bash", "-c", script])
    made = [json.loads(ct.run(["cat", f"/root/c{n}.json"]).stdout) for n in range(5)]
    assert len({m["ports"]["game"] for m in made}) == 5
    for m in made:
        manage(ct, "--instance", m["id"], "--delete", "--yes", "--purge")


# -- bad input: one line, non-zero exit, nothing changed ----------------------------------


def snapshot(ct: SystemdContainer) -> str:
    """Every file, directory and link (type, mode, owner, content) of the registry and the
    unit directory, the game units systemd knows, and the instance users."""
    script = (
        "cd / && find var/lib/warlock etc/systemd/system -xdev ! -name .index.json"
        " -printf '%y %m %u %p\\n' | sort;"
        " find var/lib/warlock etc/systemd/system -xdev -type f ! -name .index.json -print0"
        " | sort -z"
        " | xargs -0 -r sha256sum; getent passwd | grep '^wl-' || true"
    )
    files = ct.run(["bash", "-c", script]).stdout
    units = ct.run(["systemctl", "list-units", "game@*", "--all", "--plain", "--no-legend"]).stdout
    return files + units


def test_bad_input_gets_one_line_and_changes_nothing(ct: SystemdContainer) -> None:
    a = create(ct, "--instance-name", "Keeper", "--port", "game=32000")
    manage(ct, "--instance", a["id"], "--start")
    corrupt = f"/var/lib/warlock/{EXAMPLE_GUID}.00000000-0000-4000-8000-000000000001.toml"
    ct.run(["bash", "-c", f"echo 'id = [broken' > {corrupt}"])
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("0.0.0.0", 32100))
    before = snapshot(ct)
    bad: list[tuple[str, ...]] = [
        ("--instance", "ABC", "--start"),
        ("--instance", "../etc", "--start"),
        ("--instance", "a/b", "--get-services"),
        ("--instance", "x\ny", "--stop"),
        ("--instance", "%n", "--delete", "--yes"),
        ("--instance", "550e8400 e29b", "--status"),
        ("--instance", "550e8400-e29b-41d4-a716-446655440000", "--start"),  # unknown
        ("--create", "--app", "nosuchgame"),
        ("--create", "--app", "example", "--instance-id", a["id"]),  # duplicate
        ("--create", "--app", "example", "--instance-name", "two\nlines"),
        ("--create", "--app", "example", "--instance-name", "x" * 300),
        ("--create", "--app", "example", "--port", "game=70000"),
        ("--create", "--app", "example", "--port", "game=abc"),
        ("--create", "--app", "example", "--port", "game=32000"),  # held by instance a
        ("--create", "--app", "example", "--port", "game=32100"),  # held by a host process
        ("--create", "--app", "example", "--dir", "relative/path"),
        ("--create", "--app", "example", "--dir", a["path"] + "/inner"),
        ("--create", "--app", "example", "--dir", "/etc"),
        ("--create", "--app", "example", "--dir", "/var/lib/warlock"),
        ("--create", "--app", "example", "--dir", "/srv/with space"),
        ("--instance", "00000000-0000-4000-8000-000000000001", "--start"),  # corrupt record
        ("--start", "--stop"),
    ]
    try:
        for args in bad:
            result = manage(ct, *args, check=False)
            assert result.returncode != 0, args
            assert result.stdout == "", args
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (
                args,
                result.stderr,
            )
    finally:
        squatter.close()
    assert snapshot(ct) == before
    listing = manage(ct, "list")
    assert a["id"] in listing.stdout and "corrupt record" in listing.stderr
    ct.run(["rm", corrupt])
    manage(ct, "--instance", a["id"], "--delete", "--yes", "--purge")


def test_any_command_while_systemd_is_unreachable_fails_cleanly(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Lonely")
    before = snapshot(ct)
    commands: list[tuple[str, ...]] = [
        ("--instance", inst["id"], "--start"),
        ("--instance", inst["id"], "--get-services"),
        ("--instance", inst["id"], "--stop"),
        ("--instance", inst["id"], "--delete", "--yes"),
        ("--create", "--app", "example"),  # rolled back: no user, directory or drop-in left
    ]
    for args in commands:
        result = ct.run(
            [*MANAGE, *args],
            check=False,
            env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"},
        )
        assert result.returncode == 1, args
        assert result.stderr.startswith("error: cannot reach systemd"), result.stderr
        assert result.stderr.count("\n") == 1 and "hint:" in result.stderr
    assert snapshot(ct) == before
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


# useradd that hangs once it has made the user: a create to kill -9 in the middle
SLOW_USERADD = (
    '#!/bin/sh\necho $$ > /run/useradd.pid\n/usr/sbin/useradd.real "$@" || exit $?\n'
    "touch /run/useradd.done\nexec sleep 60\n"
)


def test_a_create_killed_half_way_is_undone_by_the_next_one(ct: SystemdContainer) -> None:
    first = create(ct, "--instance-name", "Template")  # the host's one-time setup, done
    manage(ct, "--instance", first["id"], "--delete", "--yes", "--purge")
    before = snapshot(ct)
    ct.run(["mv", "/usr/sbin/useradd", "/usr/sbin/useradd.real"])
    ct.run(["bash", "-c", f"cat > /usr/sbin/useradd <<'EOF'\n{SLOW_USERADD}EOF"])
    ct.run(["chmod", "755", "/usr/sbin/useradd"])
    killed = ct.popen([*MANAGE, "--create", "--app", "example", "--instance-name", "Killed"])
    try:
        wait_for(
            lambda: ct.run(["test", "-e", "/run/useradd.done"], check=False).returncode == 0,
            timeout=60,
            message="the user made",
        )
        ct.run(["pkill", "-KILL", "-f", "manage.py --create .*Killed"])
        ct.run(["bash", "-c", "kill -KILL $(cat /run/useradd.pid)"])
    finally:
        killed.wait(timeout=30)
        ct.run(["mv", "/usr/sbin/useradd.real", "/usr/sbin/useradd"])
        ct.run(["rm", "-f", "/run/useradd.done", "/run/useradd.pid"])
    notes = ct.run(["bash", "-c", "cat /var/lib/warlock/.creating-*.json"]).stdout
    half = json.loads(notes)["id"]
    user = "wl-" + half.replace("-", "")[:12]
    assert ct.run(["getent", "passwd", user], check=False).returncode == 0  # left behind
    assert half not in manage(ct, "list").stdout  # never listed: it has no record
    result = manage(ct, "--create", "--app", "example", "--instance-name", "Next")
    assert f"cleaned up after an interrupted create of {half}" in result.stderr
    assert ct.run(["getent", "passwd", user], check=False).returncode == 2
    manage(ct, "--instance", json.loads(result.stdout)["id"], "--delete", "--yes", "--purge")
    assert snapshot(ct) == before
