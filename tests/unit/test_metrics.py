"""Resource use per instance: cgroup accounting or /proc, disk use, players, byte counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd.metrics import Sampler, disk_usage, human_bytes, players

UNIT = f"game@{ID_A}.service"


def _cgroup(root: Path, unit: str = UNIT) -> Path:
    d = root / "system.slice" / "system-game.slice" / unit
    d.mkdir(parents=True, exist_ok=True)
    return d


def _accounting(d: Path, memory: int, usec: int, tasks: int) -> None:
    # as on a cgroup v2 host: the slice above counts memory too
    (d.parent.parent / "memory.current").write_text(f"{memory}\n")
    (d / "memory.current").write_text(f"{memory}\n")
    (d / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec {usec // 2}\nsystem_usec 0\n")
    (d / "pids.current").write_text(f"{tasks}\n")


# -- cgroup v2 accounting -------------------------------------------------------------------


def test_cgroup_accounting_gives_memory_and_tasks_and_cpu_from_the_second_look(
    tmp_path: Path,
) -> None:
    d = _cgroup(tmp_path)
    _accounting(d, memory=300 << 20, usec=10_000_000, tasks=7)
    sampler = Sampler(cgroup_root=tmp_path)

    a = time.monotonic()
    first = sampler.usage(UNIT)
    b = time.monotonic()
    assert (first.cpu_percent, first.memory_bytes, first.tasks, first.source) == (
        None,
        300 << 20,
        7,
        "cgroup",
    )

    time.sleep(0.1)
    _accounting(d, memory=310 << 20, usec=10_500_000, tasks=9)  # 0.5 s of CPU meanwhile
    c = time.monotonic()
    second = sampler.usage(UNIT)
    d_ = time.monotonic()

    assert (second.memory_bytes, second.tasks, second.source) == (310 << 20, 9, "cgroup")
    assert second.cpu_percent is not None and second.cpu_percent > 0
    # the sampler's own interval lies between these two, so its percentage does too
    low, high = 0.5 / (d_ - a) * 100, 0.5 / (c - b) * 100
    assert low - 0.1 <= second.cpu_percent <= high + 0.1


def test_cgroup_cpu_is_none_without_cpu_stat_and_tasks_none_without_pids_current(
    tmp_path: Path,
) -> None:
    d = _cgroup(tmp_path)
    (d / "memory.current").write_text("4096\n")
    (tmp_path / "system.slice" / "memory.current").write_text("4096\n")
    sampler = Sampler(cgroup_root=tmp_path)
    sampler.usage(UNIT)
    usage = sampler.usage(UNIT)
    assert (usage.cpu_percent, usage.memory_bytes, usage.tasks, usage.source) == (
        None,
        4096,
        None,
        "cgroup",
    )


def test_cgroup_cpu_is_kept_per_unit(tmp_path: Path) -> None:
    other = f"game@{ID_B}.service"
    _accounting(_cgroup(tmp_path), memory=1, usec=1_000, tasks=1)
    _accounting(_cgroup(tmp_path, other), memory=1, usec=5_000, tasks=1)
    sampler = Sampler(cgroup_root=tmp_path)
    assert sampler.usage(UNIT).cpu_percent is None
    # the first look at another unit has nothing to compare with either
    assert sampler.usage(other).cpu_percent is None


# -- the /proc fallback --------------------------------------------------------------------


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    """A real process burning CPU for a couple of seconds."""
    code = "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_without_memory_accounting_proc_counts_the_processes_in_cgroup_procs(
    tmp_path: Path, busy: subprocess.Popen[bytes]
) -> None:
    d = _cgroup(tmp_path)
    (d / "cgroup.procs").write_text(f"{busy.pid}\n")
    sampler = Sampler(cgroup_root=tmp_path)
    assert sampler.pids(UNIT) == [busy.pid]

    first = sampler.usage(UNIT)
    assert first.source == "proc"
    assert first.cpu_percent is None  # primes the counters
    assert first.memory_bytes is not None and first.memory_bytes > 0
    assert first.tasks is not None and first.tasks >= 1

    time.sleep(0.3)
    second = sampler.usage(UNIT)
    assert second.source == "proc"
    assert second.cpu_percent is not None and second.cpu_percent > 0
    assert second.memory_bytes is not None and second.memory_bytes > 0


def test_forgetting_a_process_makes_its_next_look_a_first_one_again(
    tmp_path: Path, busy: subprocess.Popen[bytes]
) -> None:
    (_cgroup(tmp_path) / "cgroup.procs").write_text(f"{busy.pid}\n")
    sampler = Sampler(cgroup_root=tmp_path)
    sampler.usage(UNIT)
    sampler.forget({busy.pid})  # still alive: kept
    assert sampler.usage(UNIT).cpu_percent is not None
    sampler.forget(set())
    assert sampler.usage(UNIT).cpu_percent is None


def test_a_unit_without_processes_has_no_usage(tmp_path: Path) -> None:
    sampler = Sampler(cgroup_root=tmp_path)
    usage = sampler.usage(UNIT)
    assert (usage.cpu_percent, usage.memory_bytes, usage.tasks, usage.source) == (
        None,
        None,
        None,
        "proc",
    )
    (_cgroup(tmp_path) / "cgroup.procs").write_text("")
    assert sampler.usage(UNIT).memory_bytes is None


# -- disk use -------------------------------------------------------------------------------


def _allocated(root: Path) -> int:
    total = 0
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            total += os.lstat(os.path.join(top, name)).st_blocks * 512
    return total


def test_disk_usage_counts_nested_files_and_does_not_follow_symlinks(tmp_path: Path) -> None:
    inside = tmp_path / "instance"
    (inside / "a" / "b" / "c").mkdir(parents=True)
    (inside / "a" / "top.bin").write_bytes(os.urandom(64 << 10))
    (inside / "a" / "b" / "c" / "deep.bin").write_bytes(os.urandom(256 << 10))

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "huge.bin").write_bytes(os.urandom(2 << 20))
    (inside / "link-to-dir").symlink_to(outside)
    (inside / "a" / "link-to-file").symlink_to(outside / "huge.bin")

    used = disk_usage(str(inside))
    assert used >= (64 + 256) << 10
    assert used < 2 << 20  # the 2 MiB behind the links is not counted
    assert used == _allocated(inside)


def test_disk_usage_of_a_missing_directory_is_zero(tmp_path: Path) -> None:
    assert disk_usage(str(tmp_path / "nope")) == 0


# -- players and bytes ----------------------------------------------------------------------


def test_players_reads_the_runners_status_line() -> None:
    assert players("players 3/16") == (3, 16)
    assert players("players 0/8") == (0, 8)


@pytest.mark.parametrize(
    "text", ["", "players", "players ", "players 3", "players x/16", "players 3/", "starting"]
)
def test_players_is_none_for_other_status_texts(text: str) -> None:
    assert players(text) is None


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "N/A"),
        (0, "0 MB"),
        (512 << 20, "512 MB"),
        ((1 << 30) - 1, "1024 MB"),
        (1 << 30, "1.00 GB"),
        (int(9.79 * (1 << 30)), "9.79 GB"),
    ],
)
def test_human_bytes_uses_megabytes_below_a_gigabyte(n: int | None, text: str) -> None:
    assert human_bytes(n) == text
