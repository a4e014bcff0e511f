from __future__ import annotations

import os
import select
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from warlockd import fsutil

REPO = Path(__file__).resolve().parents[2]


def test_atomic_write_replaces_the_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "record.toml"
    target.write_text("old")
    fsutil.atomic_write(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["record.toml"]


def test_atomic_write_takes_bytes(tmp_path: Path) -> None:
    fsutil.atomic_write(tmp_path / "b", b"\x00\xff")
    assert (tmp_path / "b").read_bytes() == b"\x00\xff"


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o600])
def test_atomic_write_sets_the_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    old = os.umask(0o077)
    try:
        fsutil.atomic_write(tmp_path / "f", "x", mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == mode


def test_atomic_write_changes_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o600)
    fsutil.atomic_write(target, "new", 0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failed_atomic_write_leaves_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "record.toml"
    target.write_text("old")
    # A directory where the temp file would go: the write fails before touching the target.
    blocker = tmp_path / f".record.toml.{os.getpid()}.tmp"
    blocker.mkdir()
    with pytest.raises(OSError):
        fsutil.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, blocker.name])


def test_a_failed_rename_removes_the_temp_file_and_keeps_the_old_content(tmp_path: Path) -> None:
    # The target is a non-empty directory: os.replace fails after the temp file was written.
    target = tmp_path / "busy"
    target.mkdir()
    (target / "inside").write_text("old")
    with pytest.raises(OSError):
        fsutil.atomic_write(target, "new")
    assert (target / "inside").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_atomic_write_into_a_missing_directory_fails_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsutil.atomic_write(tmp_path / "missing" / "f", "x")
    assert list(tmp_path.iterdir()) == []


def test_remove_says_whether_the_file_was_there(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert fsutil.remove(f) is True
    assert not f.exists()
    assert fsutil.remove(f) is False


_HOLDER = """
import sys, time
from pathlib import Path
from warlockd import fsutil
print("trying", flush=True)
with fsutil.locked(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until the test says so
"""


def test_locked_makes_a_second_process_wait_until_the_first_releases(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / ".lock"  # the parent directory is created on demand
    first = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdin and first.stdout
    second = None
    try:
        assert first.stdout.readline() == "trying\n"
        assert first.stdout.readline() == "locked\n"
        second = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(lock)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert second.stdin and second.stdout
        assert second.stdout.readline() == "trying\n"
        ready, _, _ = select.select([second.stdout], [], [], 0.3)
        assert ready == []  # blocked on the lock
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(5) == 0
        assert second.stdout.readline() == "locked\n"  # got it once the first let go
        second.stdin.write("\n")
        second.stdin.flush()
        assert second.wait(5) == 0
    finally:
        for p in (first, second):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def test_locked_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout
    try:
        assert holder.stdout.readline() == "trying\n"
        assert holder.stdout.readline() == "locked\n"
    finally:
        holder.kill()
        holder.wait()
    with fsutil.locked(lock):  # would hang if the lock were stale
        pass
