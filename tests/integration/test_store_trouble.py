"""warlockd.service when its database cannot be written: reported, and watching goes on.

Its own container: these tests mount over /var/lib/warlock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_daemon import kinds
from tests.integration.test_instances import create, manage, show

DB = "/var/lib/warlock/warlock.db"


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        booted.run(["mkdir", "-p", "/etc/warlock"])
        booted.run(["bash", "-c", "printf 'interval = 1\\n' > /etc/warlock/warlockd.toml"])
        manage(booted, "setup")
        yield booted


def journal(ct: SystemdContainer) -> str:
    return ct.run(["journalctl", "-u", "warlockd", "-o", "cat", "--no-pager"]).stdout


def cached(ct: SystemdContainer, instance_id: str) -> dict[str, Any]:
    out = manage(ct, "--instance", instance_id, "--get-metrics").stdout
    data: dict[str, Any] = json.loads(out)[f"game@{instance_id}"]
    return data


def cached_status(ct: SystemdContainer, instance_id: str) -> str:
    data = cached(ct, instance_id)
    return f"{data['source']}:{data['status']}"


def test_a_full_disk_is_reported_once_and_watching_goes_on(ct: SystemdContainer) -> None:
    # the game's directory elsewhere: a full disk under the game would stop it restarting
    inst = create(ct, "--instance-name", "Full", "--dir", "/srv/full-test")
    ct.run(["systemctl", "stop", "warlockd"])
    # /var/lib/warlock (registry and history) on a small filesystem, then filled up
    ct.run(
        [
            "bash",
            "-c",
            "cp -a /var/lib/warlock /root/state && mount -t tmpfs -o size=8m tmpfs "
            "/var/lib/warlock && cp -a /root/state/. /var/lib/warlock/",
        ]
    )
    ct.run(["systemctl", "start", "warlockd"])
    manage(ct, "--instance", inst["id"], "--start")
    wait_for(lambda: "started" in kinds(ct, inst["id"]), timeout=15, message="a started event")
    ct.run(["bash", "-c", "dd if=/dev/zero of=/var/lib/warlock/filler bs=64k 2>/dev/null; true"])
    wait_for(lambda: cached(ct, inst["id"])["service_pid"], timeout=15, message="a cached pid")
    before = cached(ct, inst["id"])["service_pid"]
    manage(ct, "--instance", inst["id"], "--cmd", "crash")
    wait_for(
        lambda: "database or disk is full" in journal(ct) or "SQLITE_FULL" in journal(ct),
        timeout=30,
        message="the full disk reported",
    )
    # watching goes on: systemd restarts the game and the daemon's cache follows it
    wait_for(
        lambda: (
            cached_status(ct, inst["id"]) == "cache:running"
            and cached(ct, inst["id"])["service_pid"] not in (0, before)
        ),
        timeout=30,
        message="the restarted game seen by the daemon",
    )
    assert "free space on the filesystem" in journal(ct)  # the hint
    assert journal(ct).count("disk is full") <= 2  # once per distinct message, not every 1 s
    assert ct.systemctl("is-active", "warlockd").stdout.strip() == "active"
    assert "crashed" not in kinds(ct, inst["id"])  # not recorded: there was no room
    # room again: the next event is recorded
    ct.run(["rm", "/var/lib/warlock/filler"])
    manage(ct, "--instance", inst["id"], "--stop")
    wait_for(lambda: "stopped" in kinds(ct, inst["id"]), timeout=15, message="recorded again")
    ct.run(["systemctl", "stop", "warlockd"])
    ct.run(["umount", "/var/lib/warlock"])
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
    ct.run(["systemctl", "start", "warlockd"])


def test_a_read_only_database_at_start_up_leaves_watching_without_history(
    ct: SystemdContainer,
) -> None:
    ct.run(["systemctl", "stop", "warlockd"])
    ct.run(["bash", "-c", f"mount --bind {DB} {DB} && mount -o remount,bind,ro {DB}"])
    try:
        ct.run(["systemctl", "start", "warlockd"])  # Type=notify: returns once READY=1
        inst = create(ct, "--instance-name", "NoHistory")
        manage(ct, "--instance", inst["id"], "--start")
        wait_for(
            lambda: "1 running" in show(ct, "warlockd", "StatusText")["StatusText"],
            timeout=15,
            message="the running instance counted",
        )
        wait_for(
            lambda: cached_status(ct, inst["id"]) == "cache:running",
            timeout=15,
            message="the cache kept without the database",
        )
        assert "warlock.db" in journal(ct) and "mounted rw" in journal(ct)
    finally:
        ct.run(["systemctl", "stop", "warlockd"])
        ct.run(["umount", DB])
        ct.run(["systemctl", "start", "warlockd"])
    manage(ct, "--instance", inst["id"], "--stop")
    wait_for(lambda: "stopped" in kinds(ct, inst["id"]), timeout=15, message="history again")
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
