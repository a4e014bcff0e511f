"""Schedules and player-aware operations on a real systemd: timers that fire and run their
task, warnings that reach the players in the game's own log before a restart, updates
that wait for an empty server, and timers that survive reloads and go with their instance."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_games import _need
from tests.integration.test_instances import create, manage, services, show
from tests.integration.test_update import FIXTURES, MANIFEST, fake_steam, publish, record

# the fake SteamCMD game (the example server as its build) with the example's console
CONSOLE = '\n[console]\ncommands = ["say", "join", "leave", "save"]\nsay = "say {{ message }}"\n'


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        manage(booted, "setup")  # warlockd.service and the schedule templates, as root does
        if FIXTURES.is_dir():
            fake_steam(booted, MANIFEST + CONSOLE)
        yield booted


def add(ct: SystemdContainer, iid: str, *task_and_options: str) -> dict[str, Any]:
    out = manage(ct, "schedule", "add", "--instance", iid, *task_and_options).stdout
    row: dict[str, Any] = json.loads(out)
    return row


def listed(ct: SystemdContainer, iid: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        manage(ct, "schedule", "list", "--instance", iid, "--json").stdout
    )
    return rows


def backups(ct: SystemdContainer, inst: dict[str, Any]) -> list[str]:
    out = ct.run(["sh", "-c", f"ls {inst['path']}/backups | grep 'tar.gz$' || true"]).stdout
    return out.split()


def events(ct: SystemdContainer, iid: str, kind: str) -> list[dict[str, Any]]:
    out = manage(ct, "events", "--instance", iid, "--since", "1h", "--json").stdout
    return [e for e in json.loads(out) if e["kind"] == kind]


def game_log(ct: SystemdContainer, iid: str) -> list[str]:
    out = ct.run(["journalctl", "--no-pager", "-o", "cat", f"WARLOCK_INSTANCE={iid}"]).stdout
    return out.splitlines()


def timer_state(ct: SystemdContainer, timer: str) -> tuple[str, str]:
    props = show(ct, timer, "ActiveState", "UnitFileState")
    return props["ActiveState"], props["UnitFileState"]


def test_a_timer_fires_its_backup_prunes_and_survives_reloads_until_its_instance_goes(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Timed")
    iid = inst["id"]
    manage(ct, "--instance", iid, "--start")
    row = add(ct, iid, "backup", "--on-calendar", "*:*:0/5", "--keep", "2")
    timer = row["timer"]
    assert row["on_calendar"] == "*-*-* *:*:00/5" and timer.startswith("warlock-schedule@backup-")
    assert timer in ct.run(["systemctl", "list-timers", "--no-pager", "warlock-*"]).stdout
    wait_for(lambda: len(events(ct, iid, "schedule")) >= 3, timeout=60, message="three runs")
    assert len(backups(ct, inst)) == 2  # three made, the oldest pruned
    assert all(e["data"]["result"].startswith("backed up") for e in events(ct, iid, "schedule"))
    (mine,) = listed(ct, iid)
    assert mine["last_result"].startswith("backed up") and mine["next_run"] is not None

    manage(ct, "schedule", "pause", mine["id"])
    assert timer_state(ct, timer) == ("inactive", "disabled")
    runs = len(events(ct, iid, "schedule"))
    time.sleep(7)
    assert len(events(ct, iid, "schedule")) == runs  # paused: no run
    manage(ct, "schedule", "resume", mine["id"])
    ct.systemctl("daemon-reload")
    ct.systemctl("restart", "warlockd.service")
    assert timer_state(ct, timer) == ("active", "enabled")
    wait_for(lambda: len(events(ct, iid, "schedule")) > runs, timeout=30, message="a run again")

    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")
    assert ct.run(["systemctl", "is-active", timer], check=False).stdout.strip() == "inactive"
    assert timer not in ct.run(["systemctl", "list-timers", "--all", "--no-pager"]).stdout
    etc = "/etc/systemd/system"
    left = ct.run(["sh", "-c", f"ls -d {etc}/*/{timer} {etc}/{timer}.d"], check=False).stdout
    assert left == ""


def test_a_restart_schedule_warns_the_players_in_the_games_log_first(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Warned")
    iid = inst["id"]
    manage(ct, "--instance", iid, "--start")
    unit = f"game@{iid}.service"
    before = show(ct, unit, "MainPID")["MainPID"]
    manage(ct, "--instance", iid, "--cmd", "join 2")
    wait_for(lambda: services(ct, iid)["player_count"] == 2, timeout=15, message="2 players")
    row = add(ct, iid, "restart", "--on-calendar", "Mon 06:00", "--warn", "15s")
    job = row["timer"].replace(".timer", ".service")
    ct.run(["systemctl", "start", job], timeout=120)  # what the timer starts, at 06:00
    log = game_log(ct, iid)
    said = [line for line in log if "say: The server restarts" in line]
    assert [s.split("say: ")[1] for s in said] == [
        "The server restarts in 15 seconds.",
        "The server restarts in 10 seconds.",
        "The server restarts now.",
    ], log
    assert log.index(said[-1]) < max(i for i, x in enumerate(log) if f"[{iid}] started" in x)
    assert show(ct, unit, "MainPID")["MainPID"] != before
    assert services(ct, iid)["status"] == "running"
    (mine,) = listed(ct, iid)
    assert mine["last_result"] == "restarted"
    assert show(ct, job, "Result")["Result"] == "success"
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_a_failed_run_fails_its_job_and_is_an_event(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Stopped")
    iid = inst["id"]
    row = add(ct, iid, "command", "say nobody reads this", "--on-calendar", "hourly")
    job = row["timer"].replace(".timer", ".service")
    assert ct.run(["systemctl", "start", job], check=False, timeout=60).returncode != 0
    assert show(ct, job, "Result")["Result"] == "exit-code"
    (ev,) = events(ct, iid, "schedule")
    assert ev["data"]["result"] == "failed" and "has no console" in ev["message"]
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_an_update_when_empty_waits_for_the_players_to_leave(ct: SystemdContainer) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"no recorded SteamCMD output at {FIXTURES}")
    publish(ct, 100, "good")
    made = json.loads(manage(ct, "--create", "--app", "fakesteam", "--instance-name", "U").stdout)
    iid = made["id"]
    manage(ct, "--instance", iid, "--start")
    manage(ct, "--instance", iid, "--cmd", "join 1")
    wait_for(lambda: services(ct, iid)["player_count"] == 1, timeout=15, message="1 player")
    publish(ct, 200, "good")
    row = add(ct, iid, "update", "--on-calendar", "hourly", "--when-empty")
    job = row["timer"].replace(".timer", ".service")
    ct.run(["systemctl", "start", job], timeout=120)
    assert listed(ct, iid)[0]["last_result"] == "skipped: players are online"
    assert 'build = "100"' in record(ct, iid)

    manage(ct, "--instance", iid, "--cmd", "leave 1")
    wait_for(lambda: services(ct, iid)["player_count"] == 0, timeout=15, message="nobody")
    ct.run(["systemctl", "start", job], timeout=300)
    assert listed(ct, iid)[0]["last_result"] == "updated"
    assert 'build = "200"' in record(ct, iid)
    assert services(ct, iid)["status"] == "running"
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def _bots(ct: SystemdContainer, iid: str, n: int) -> None:
    for name in ("sarge", "grunt", "major")[:n]:
        manage(ct, "--instance", iid, "--cmd", f"addbot {name} 1")
    wait_for(lambda: services(ct, iid)["player_count"] == n, timeout=20, message=f"{n} bots")


def test_openarena_bots_are_warned_by_a_schedule_and_by_delayed_restart_which_runs_once(
    ct: SystemdContainer,
) -> None:
    _need("openarena")
    inst = create(ct, "--app", "openarena", "--instance-name", "Arena")
    iid, unit = inst["id"], f"game@{inst['id']}.service"
    manage(ct, "--instance", iid, "--start")
    _bots(ct, iid, 1)
    row = add(ct, iid, "restart", "--on-calendar", "Mon 06:00", "--warn", "12s")
    pid = show(ct, unit, "MainPID")["MainPID"]
    ct.run(["systemctl", "start", row["timer"].replace(".timer", ".service")], timeout=120)
    log = "\n".join(game_log(ct, iid))
    assert "The server restarts in 12 seconds." in log and "The server restarts now." in log, log
    assert show(ct, unit, "MainPID")["MainPID"] != pid

    # two delayed restarts at once (the panel runs them with &): one restart
    wait_for(lambda: services(ct, iid)["status"] == "running", timeout=30, message="running")
    _bots(ct, iid, 2)
    pid = show(ct, unit, "MainPID")["MainPID"]
    restarts = len([e for e in events(ct, iid, "delayed") if e["message"] == "restart: restarted"])
    first = json.loads(manage(ct, "--instance", iid, "--delayed-restart", "--warn", "15s").stdout)
    second = json.loads(manage(ct, "delayed-restart", "--instance", iid, "--warn", "15s").stdout)
    assert first["unit"] == second["unit"] == f"warlock-delayed-{iid}.service"
    assert second["scheduled"] == "joined"
    delayed_unit = first["unit"]
    wait_for(
        lambda: ct.run(["systemctl", "is-active", delayed_unit], check=False).stdout.strip()
        != "active", timeout=90, message="the delayed restart to finish",
    )  # fmt: skip
    done = [e for e in events(ct, iid, "delayed") if e["message"] == "restart: restarted"]
    assert len(done) == restarts + 1  # joined, not stacked
    assert show(ct, unit, "MainPID")["MainPID"] != pid
    told = [e["message"] for e in events(ct, iid, "delayed") if "told the players" in e["message"]]
    assert "told the players: The server restarts in 15 seconds." in told

    # nobody on now (bots go with the restart): at once
    wait_for(lambda: services(ct, iid)["status"] == "running", timeout=30, message="running")
    seen = len(events(ct, iid, "delayed"))
    started = time.monotonic()
    manage(ct, "--instance", iid, "--delayed-restart", "--warn", "5m", "--wait")
    assert time.monotonic() - started < 60
    after = [e["message"] for e in events(ct, iid, "delayed")[seen:]]
    assert "nobody plays: restart now" in after and "restart: restarted" in after, after
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")
