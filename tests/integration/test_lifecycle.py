"""The runner on a real systemd: readiness, watchdog, graceful stop, crash loops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import create, manage, services, show
from warlockd.query import warlock_status


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        yield booted


def journal(ct: SystemdContainer, unit: str) -> str:
    return ct.run(["journalctl", "--no-pager", "-o", "cat", "-u", unit]).stdout


def test_start_returns_once_the_server_answers_its_query(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Ready")
    manage(ct, "--instance", inst["id"], "--start")
    # no polling here: when start returns, the query must already answer
    answer = warlock_status("127.0.0.1", inst["ports"]["game"], timeout=1)
    assert answer is not None
    svc = services(ct, inst["id"])
    assert svc["game_pid"] and svc["game_pid"] != svc["service_pid"]  # the runner's child
    assert "warlock-runner: ready after" in journal(ct, f"game@{inst['id']}.service")
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_stop_saves_the_world_and_ends_in_success_not_sigkill(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Saver")
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", inst["id"], "--start")
    manage(ct, "--instance", inst["id"], "--cmd", "join 2")
    time.sleep(0.5)  # let a few ticks pass so the saved world has progressed
    manage(ct, "--instance", inst["id"], "--stop")
    props = show(ct, unit, "Result", "ExecMainStatus", "ActiveState")
    assert props == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}
    world = json.loads(ct.run(["cat", f"{inst['path']}/data/world.json"]).stdout)
    assert world["tick"] > 0
    log = journal(ct, unit)
    assert "stopping: sending 'stop'" in log and "exited with status 0" in log
    assert "SIGKILL" not in log
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_frozen_server_is_restarted_by_the_watchdog(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Frozen")
    unit, port = f"game@{inst['id']}.service", inst["ports"]["game"]
    manage(ct, "--instance", inst["id"], "--start")
    manage(ct, "--instance", inst["id"], "--cmd", "freeze")
    frozen_at = time.monotonic()
    wait_for(lambda: "Watchdog timeout" in journal(ct, unit), timeout=30, interval=0.5,
             message="systemd's watchdog fired")  # fmt: skip

    def answering_again() -> bool:
        props = show(ct, unit, "NRestarts", "ActiveState")
        up = props == {"NRestarts": "1", "ActiveState": "active"}
        return up and warlock_status("127.0.0.1", port, timeout=0.3) is not None

    wait_for(answering_again, timeout=30, interval=0.2, message="running again after the watchdog")
    recovered = time.monotonic() - frozen_at
    # WatchdogSec=6 plus RestartSec=5 plus a start well under a second
    assert recovered < 6 + 5 + 5, recovered
    assert "Watchdog timeout" in journal(ct, unit)
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_crash_loop_ends_in_crashed_instead_of_restarting_forever(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Looper", "--env", "TICK_RATE=0")  # refused: exits 2
    unit = f"game@{inst['id']}.service"
    result = manage(ct, "--instance", inst["id"], "--start", check=False)
    assert result.returncode == 1

    def gave_up() -> bool:
        return show(ct, unit, "ActiveState")["ActiveState"] == "failed"

    wait_for(gave_up, timeout=60, interval=1, message="systemd gave up restarting")
    # systemd 252 keeps Result=exit-code here; the start limit shows in the journal
    assert "Start request repeated too quickly" in journal(ct, unit)
    assert int(show(ct, unit, "NRestarts")["NRestarts"]) >= 4
    svc = services(ct, inst["id"])  # what panels know: stopped, with crashed beside
    assert (svc["status"], svc["crashed"]) == ("stopped", True)
    assert "crashed" in manage(ct, "list").stdout
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
