"""The monitoring commands' pure parts and the dashboard over a World."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, World
from warlockd import cache
from warlockd.actions import Outcome
from warlockd.actions import dashboard as dashboard_action
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.dashboard import dashboard_rows
from warlockd.actions.metrics import parse_since
from warlockd.cli import run
from warlockd.cli.render import events_lines, render_dashboard
from warlockd.commands import COMMANDS
from warlockd.errors import InvalidInput
from warlockd.model import Instance, InstanceId
from warlockd.report import host_ip

ID_C = InstanceId("2d7e9c74-5b50-4d00-9f21-7c3e4f5a6b82")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1w", 604800), (" 3h ", 10800)],
)
def test_parse_since_reads_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["1x", "", "-1h", "h", "1.5h", "1h30m", "15"])
def test_parse_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput, match="--since"):
        parse_since(text)


# -- events ---------------------------------------------------------------------------------


def test_render_events_says_so_when_there_are_none() -> None:
    assert events_lines(Outcome([])) == "no events\n"


def test_render_events_shows_time_kind_instance_and_message_one_per_line() -> None:
    ts = 1_700_000_000.0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    rows = [
        {"ts": ts, "kind": "crashed", "instance_id": ID_A, "message": "exited with an error"},
        {"ts": ts + 60, "kind": "daemon", "instance_id": None, "message": "skipped x.toml"},
    ]
    lines = events_lines(Outcome(rows)).splitlines()
    assert lines[0] == f"{when}  crashed    {ID_A}  exited with an error"
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts + 60))
    assert lines[1] == f"{later}  daemon     {'-':<36}  skipped x.toml"
    assert len(lines) == 2


# -- the dashboard --------------------------------------------------------------------------


def _row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ID_A,
        "name": "server",
        "app": EXAMPLE_GUID,
        "ports": {"game": 30000},
        "status": "running",
        "players": None,
        "max_players": None,
        "cpu_percent": None,
        "memory_bytes": None,
        "uptime": 0,
    }
    return row | kw


def test_render_dashboard_totals_running_crashed_players_cpu_and_memory() -> None:
    beta_ports = {"game": 30001, "query": 30002}
    rows = [
        _row(id=ID_C, name="broken", status="crashed"),
        _row(name="alpha", players=3, max_players=16, cpu_percent=12.4, memory_bytes=512 << 20),
        _row(id=ID_B, name="beta", players=2, cpu_percent=3.0, memory_bytes=1 << 30),
        _row(id="default", name="gamma", status="stopped"),
    ]
    rows[1]["uptime"] = 3700
    rows[2]["ports"] = beta_ports
    rows[1]["next_schedule"] = "backup 12-03 05:00"
    text = render_dashboard(rows, {EXAMPLE_GUID: "example"})
    body, total = text.rstrip("\n").split("\n\n")
    assert total == "4 instances, 2 running, 1 crashed; 5 players; CPU 15%; memory 1.50 GB"
    header, broken, alpha, beta, gamma = (line.split() for line in body.splitlines())
    assert header == ["ID", "NAME", "APP", "STATUS", "PLAYERS", "CPU", "MEMORY", "UPTIME", "PORTS",
                      "NEXT"]  # fmt: skip
    assert broken == [ID_C[:8], "broken", "example", "crashed", "-", "-", "-", "-", "30000", "-"]
    assert alpha == [ID_A[:8], "alpha", "example", "running", "3/16", "12%", "512", "MB", "1h01m",
                     "30000", "backup", "12-03", "05:00"]  # fmt: skip
    assert beta[4] == "2/?"  # no maximum known
    assert beta[-2] == "30001,30002"
    assert gamma[:4] == ["default", "gamma", "example", "stopped"]


def test_render_dashboard_cuts_lines_to_the_width_but_not_the_totals() -> None:
    rows = [_row(name="x" * 24)]
    text = render_dashboard(rows, {}, width=20)
    body, total = text.rstrip("\n").split("\n\n")
    assert all(len(line) <= 20 for line in body.splitlines())
    assert total.startswith("1 instances, 1 running, 0 crashed")
    assert EXAMPLE_GUID[:8] in render_dashboard(rows, {})  # unknown app: its guid


def test_render_dashboard_without_instances() -> None:
    text = render_dashboard([], {})
    assert text == (
        "no instances\n\n0 instances, 0 running, 0 crashed; 0 players; CPU 0%; memory 0 MB\n"
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    runtime = tmp_path / "run"  # the World's Paths.runtime
    runtime.mkdir()
    return runtime


def _dashboard(world: World, monkeypatch: pytest.MonkeyPatch, **given: object) -> int:
    """manage.py dashboard, in this process, on the World's host."""
    monkeypatch.setattr(run, "make_host", lambda: world.host)
    return run.execute(COMMANDS["dashboard"], given)


def _create(world: World, name: str, instance_id: InstanceId) -> Instance:
    return create(world.host, CreateRequest(app="example", name=name, instance_id=instance_id))


def test_dashboard_rows_put_crashed_instances_first_with_players_from_the_cache(
    world: World, runtime: Path
) -> None:
    a = _create(world, "alpha", ID_A)
    b = _create(world, "beta", ID_B)
    c = _create(world, "zulu", ID_C)
    world.set_state(a.unit, "active", "running")
    world.set_state(b.unit, "inactive", "dead")
    world.set_state(c.unit, "failed", "failed")
    cache.write(
        runtime,
        cache.key("services", a.app, host_ip(), a.id),
        {"player_count": 4, "max_players": 16, "cpu_percent": 7.5, "memory_bytes": 1 << 20},
        ttl=60,
    )
    rows = dashboard_rows(world.host)
    assert [(r["name"], r["status"]) for r in rows] == [
        ("zulu", "crashed"),
        ("alpha", "running"),
        ("beta", "stopped"),
    ]
    alpha = rows[1]
    assert (alpha["players"], alpha["max_players"], alpha["cpu_percent"]) == (4, 16, 7.5)
    assert alpha["memory_bytes"] == 1 << 20
    assert alpha["ports"] == a.ports
    assert rows[0]["players"] is None  # only a running instance reads the cache


def test_dashboard_rows_treat_a_unit_systemd_does_not_know_as_stopped(
    world: World, runtime: Path
) -> None:
    inst = _create(world, "alpha", ID_A)
    world.mem.units.pop(inst.unit, None)
    (row,) = dashboard_rows(world.host)
    assert row["status"] == "stopped"
    assert row["uptime"] == 0


def test_dashboard_json_prints_the_rows(
    world: World, runtime: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _create(world, "alpha", ID_A)
    b = _create(world, "beta", ID_B)
    world.set_state(a.unit, "active", "running")
    world.set_state(b.unit, "activating", "auto-restart")
    capsys.readouterr()
    assert _dashboard(world, monkeypatch, json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == dashboard_rows(world.host)
    assert [r["status"] for r in printed] == ["crashed", "running"]


def test_dashboard_text_prints_the_table_and_totals(
    world: World, runtime: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _create(world, "alpha", ID_A)
    world.set_state(a.unit, "active", "running")
    capsys.readouterr()
    assert _dashboard(world, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "example" in out
    assert out.endswith("1 instances, 1 running, 0 crashed; 0 players; CPU 0%; memory 0 MB\n")


@pytest.mark.parametrize("interrupted", ["while waiting", "while drawing"])
def test_dashboard_watch_redraws_in_place_and_ctrl_c_quits_cleanly(
    world: World,
    runtime: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    interrupted: str,
) -> None:
    a = _create(world, "alpha", ID_A)
    world.set_state(a.unit, "active", "running")
    frames = 0
    real_rows = dashboard_action.dashboard_rows

    def rows(host: object) -> list[dict[str, object]]:
        nonlocal frames
        frames += 1
        if frames == 3 and interrupted == "while drawing":
            raise KeyboardInterrupt
        return real_rows(world.host)

    def sleep(seconds: float) -> None:
        if frames == 3:
            raise KeyboardInterrupt
        world.set_state(a.unit, "failed", "failed")  # the next frame shows the change

    monkeypatch.setattr(dashboard_action, "dashboard_rows", rows)
    monkeypatch.setattr(time, "sleep", sleep)
    ignored: list[int] = []
    monkeypatch.setattr(signal, "signal", lambda sig, how: ignored.append(sig))
    capsys.readouterr()
    assert _dashboard(world, monkeypatch, watch=True) == 0
    out = capsys.readouterr().out
    drawn = out.split("\x1b[H")[1:]
    assert len(drawn) == (3 if interrupted == "while waiting" else 2)
    assert "\x1b[2J" not in out  # never a blank screen between frames
    assert all(f.rstrip("\n").endswith("Ctrl-C quits\x1b[J") for f in drawn)
    assert "running" in drawn[0] and "crashed" in drawn[1]
    assert out.endswith("\n") and ignored == [signal.SIGINT]  # a second Ctrl-C is ignored
