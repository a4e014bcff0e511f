"""procs: start times and pids read straight from /proc and the cgroup tree."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from warlockd import procs


def test_a_process_start_time_is_when_it_was_spawned() -> None:
    before = time.time()
    child = subprocess.Popen(["sleep", "30"])
    try:
        # btime has whole seconds and start times clock ticks: within about a second
        assert abs(procs.started_at(child.pid) - before) < 1.5
        assert procs.oldest_start([child.pid, 2**22 + 1]) == procs.started_at(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_gone_process_has_no_start_time() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert procs.started_at(child.pid) == 0.0
    assert procs.oldest_start([]) == 0.0
    assert procs.uptime(0.0) == 0


def test_unit_pids_reads_the_units_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unit = tmp_path / "system.slice" / "system-game.slice" / "game@x.service"
    unit.mkdir(parents=True)
    # more than one read's worth, as a game with many processes would list
    pids = list(range(100_000, 112_000))
    (unit / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
    monkeypatch.setattr(procs, "_cgroup_root", lambda: str(tmp_path))
    assert procs.unit_pids("game@x.service") == pids
    assert procs.unit_pids("game@gone.service") == []
