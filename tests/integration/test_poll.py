"""The panels' minute poll on a real systemd: get-services and get-metrics answered from
warlockd's ready answers alike the live path (running, stopped, crashed, starting),
without loading systemd's binding, typer or the manifests; the live path whenever an
answer is stale, missing or could have been written by a game's user."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import MANAGE, create, manage

GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"
LIVE = {"WARLOCK_RUNTIME_DIR": "/nonexistent"}  # no answers, no cache: systemd and the query
HEAVY = ("pystemd", "typer", "jinja2", "warlockd.commands", "warlockd.apps", "json")
# values that move between two looks at a running game
MOVING = {"uptime", "cpu_usage", "cpu_percent", "memory_usage", "memory_bytes", "tasks",
          "disk_bytes", "sampled_at", "source"}  # fmt: skip


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        manage(booted, "setup")  # warlockd.service: it writes the answers
        yield booted


def poll(ct: SystemdContainer, iid: str, what: str, live: bool = False) -> dict[str, Any]:
    out = ct.run([*MANAGE, "--instance", iid, f"--{what}"], env=LIVE if live else None).stdout
    rows: dict[str, Any] = json.loads(out)
    return rows[f"game@{iid}"]  # type: ignore[no-any-return]


def imported(ct: SystemdContainer, *argv: str) -> str:
    """What a call imports (python3 -X importtime), for telling the two paths apart."""
    return ct.run(["/usr/bin/python3", "-X", "importtime", *argv]).stderr


def answered(ct: SystemdContainer, iid: str) -> bool:
    path = f"/run/warlock/instances/{iid}.answer"
    return ct.run(["test", "-s", path], check=False).returncode == 0


def alike(cached: dict[str, Any], live: dict[str, Any]) -> None:
    assert set(cached) == set(live), set(cached) ^ set(live)
    steady = set(live) - MOVING
    assert {k: cached[k] for k in steady} == {k: live[k] for k in steady}


def test_both_paths_answer_alike_for_running_stopped_crashed_and_starting(
    ct: SystemdContainer,
) -> None:
    run = create(ct, "--instance-name", "Running")
    idle = create(ct, "--instance-name", "Stopped")
    loop = create(ct, "--instance-name", "Looper", "--env", "TICK_RATE=0")  # exits 2 at start
    manage(ct, "--instance", run["id"], "--start")
    manage(ct, "--instance", run["id"], "--cmd", "join 2")
    manage(ct, "--instance", loop["id"], "--start", check=False)
    unit = f"game@{loop['id']}.service"

    def failed() -> bool:
        return ct.run(["systemctl", "is-failed", unit], check=False).stdout.strip() == "failed"

    wait_for(failed, timeout=60, interval=1, message="the crash loop to end in failed")
    wait_for(lambda: poll(ct, run["id"], "get-services")["player_count"] == 2, timeout=30,
             message="the daemon's sample with 2 players")  # fmt: skip
    for inst, status in ((run, "running"), (idle, "stopped"), (loop, "stopped")):
        iid = inst["id"]
        wait_for(lambda: answered(ct, iid), timeout=30, message=f"an answer for {iid}")  # noqa: B023
        for what in ("get-services", "get-metrics"):
            cached, live = poll(ct, iid, what), poll(ct, iid, what, live=True)
            alike(cached, live)
            assert cached["status"] == status
        metrics = poll(ct, iid, "get-metrics")
        assert metrics["source"] == "cache"
    assert poll(ct, loop["id"], "get-services")["crashed"] is True

    # crashed and waiting for systemd's RestartSec=5s: stopped, crashed beside
    manage(ct, "--instance", run["id"], "--cmd", "crash")
    wait_for(lambda: poll(ct, run["id"], "get-metrics")["crashed"], timeout=5, interval=0.2,
             message="the answer to say crashed")  # fmt: skip
    alike(poll(ct, run["id"], "get-services"), poll(ct, run["id"], "get-services", True))
    wait_for(lambda: poll(ct, run["id"], "get-services")["status"] == "running", timeout=30,
             message="running again")  # fmt: skip

    # starting: a world that takes 8 s to load before the game answers
    slow = create(ct, "--instance-name", "Slow", "--env", "LOAD_SECONDS=8")
    starting = ct.popen([*MANAGE, "--instance", slow["id"], "--start"])

    def says_starting() -> bool:
        return answered(ct, slow["id"]) and poll(ct, slow["id"], "get-metrics")["status"] == (
            "starting"
        )

    wait_for(says_starting, timeout=8, interval=0.2, message="the answer to say starting")
    time.sleep(1.5)  # the daemon looks again a second after a change: the game's own pid
    alike(poll(ct, slow["id"], "get-services"), poll(ct, slow["id"], "get-services", True))
    assert starting.wait(timeout=60) == 0

    # the cached path loads none of the live path's modules
    trace = imported(ct, MANAGE[1], "--instance", run["id"], "--get-metrics")
    assert "warlockd.answers" in trace and not [m for m in HEAVY if f" {m}\n" in trace], trace
    live_trace = imported(ct, MANAGE[1], "--instance", idle["id"], "--debug", "--get-metrics")
    assert "warlockd.commands" in live_trace  # the live path, for comparison
    for inst in (run, idle, loop, slow):
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_games_manage_py_answers_for_all_its_instances_at_once(ct: SystemdContainer) -> None:
    made = [create(ct, "--instance-name", f"Pack {n}") for n in range(3)]
    manage(ct, "--instance", made[0]["id"], "--start")
    ct.sh("printf '\\n[panel]\\nregistration = \"game\"\\n' >> /etc/warlock/warlockd.toml")
    manage(ct, "setup")
    try:
        for inst in made:
            wait_for(lambda: answered(ct, inst["id"]), timeout=30, message="answers")  # noqa: B023
        game = f"/var/lib/warlock/games/{GUID}/manage.py"
        cached = json.loads(ct.run([game, "--get-services"]).stdout)
        live = json.loads(ct.run([game, "--get-services"], env=LIVE).stdout)
        assert list(cached) == list(live) and len(cached) == 3
        for key in cached:
            alike(cached[key], live[key])
        trace = imported(ct, game, "--get-metrics")
        assert not [m for m in HEAVY if f" {m}\n" in trace], trace
    finally:
        ct.sh("sed -i '/^\\[panel\\]/,$d' /etc/warlock/warlockd.toml")
        manage(ct, "setup")
    for inst in made:
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_stale_missing_or_foreign_answer_is_not_used(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Before")
    iid = inst["id"]
    manage(ct, "--instance", iid, "--start")
    wait_for(lambda: answered(ct, iid), timeout=30, message="an answer")
    assert poll(ct, iid, "get-metrics")["source"] == "cache"

    # a changed record: the answer names the old one, so the live path answers (new name)
    manage(ct, "--instance", iid, "--set-config", "Server Name", "After")
    row = poll(ct, iid, "get-metrics")
    assert (row["source"], row["name"]) == ("live", "After")

    # a game's user cannot write there; an answer it owned would not be believed
    user = "wl-" + iid.replace("-", "")[:12]
    planted = ct.run(["runuser", "-u", user, "--", "sh", "-c",
                      f"echo x > /run/warlock/instances/{iid}.answer"], check=False)  # fmt: skip
    assert planted.returncode != 0 and "Permission denied" in planted.stderr
    ct.run(["systemctl", "restart", "warlockd.service"])  # rereads the record: fresh answers
    wait_for(lambda: poll(ct, iid, "get-metrics")["source"] == "cache", timeout=30,
             message="a fresh answer")  # fmt: skip
    answer = f"/run/warlock/instances/{iid}.answer"
    for _ in range(3):  # the daemon may replace the file (its own again) in between
        ct.run(["chown", user, answer])
        if poll(ct, iid, "get-metrics")["source"] == "live":
            break
        assert ct.sh(f"stat -c %U {answer}") == "root"  # rewritten: try again
    else:
        raise AssertionError("an answer owned by the game's user was used")

    # warlockd stopped: its answers go with it
    ct.run(["systemctl", "stop", "warlockd.service"])
    assert not answered(ct, iid)
    assert poll(ct, iid, "get-metrics")["source"] == "live"
    ct.run(["systemctl", "start", "warlockd.service"])
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")
