"""archive_writer: tar (and pigz) as the instance's user, at a low priority, files and
directories only. Real find, tar, pigz and gzip; run as nobody when the tests run as root."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warlockd import archive_writer
from warlockd.archive_writer import list_tree, stream_tar, write_archive
from warlockd.errors import InvalidInput, WarlockError

ROOT = os.geteuid() == 0
NOBODY = 65534
# as root, every child runs as nobody (as an instance's user); otherwise as ourselves
AS_USER: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if ROOT else {}
NAMES = ["world", "-dash", "level.dat"]


def make_tree(root: Path, big: int = 0) -> dict[str, bytes | None]:
    """A world-like tree with what must be left out (links, a FIFO); what must go in, as
    name: bytes (None for a directory)."""
    want: dict[str, bytes | None] = {
        "world": None, "world/region": None, "world/region/r.0.0.mca": os.urandom(70000),
        "world/players": None, "world/players/a b\\c.json": b'{"hp": 20}' * 50,
        "world/empty": None, "-dash": None, "-dash/-f": b"dash", "level.dat": b"\x00" * 1000,
        "world/region/copy.mca": None,  # a hard link to r.0.0.mca: stored as a plain file
    }  # fmt: skip
    if big:
        want["world/big.bin"] = os.urandom(big)
    root.mkdir()
    for name, data in want.items():
        if data is None and name != "world/region/copy.mca":
            (root / name).mkdir()
        elif data is not None:
            (root / name).write_bytes(data)
    os.link(root / "world/region/r.0.0.mca", root / "world/region/copy.mca")
    want["world/region/copy.mca"] = want["world/region/r.0.0.mca"]
    os.symlink("/etc/passwd", root / "world/passwd")
    os.symlink("/etc", root / "world/etc")
    os.mkfifo(root / "world/console")
    (root / "not-named.txt").write_text("not a save")
    if ROOT:
        for p in [root, *root.rglob("*")]:
            os.lchown(p, NOBODY, NOBODY)
    return want


def members(archive: Path) -> dict[str, bytes | None]:
    with tarfile.open(archive, "r:gz") as tar:
        found: dict[str, bytes | None] = {}
        for m in tar.getmembers():
            assert m.isfile() or m.isdir(), m.name
            f = tar.extractfile(m) if m.isfile() else None
            found[m.name] = f.read() if f else None
        return found


def extracted(root: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            found[str(p.relative_to(root))] = None if p.is_dir() else p.read_bytes()
    return found


def children(name: str) -> list[int]:
    """Our child processes running `name` (nice and ionice exec it in place)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if comm == name and int(rest.split()[1]) == os.getpid():
            pids.append(int(stat.parent.name))
    return pids


def test_the_archive_holds_exactly_the_named_files_and_directories(tmp_path: Path) -> None:
    want = make_tree(tmp_path / "inst")
    with open(tmp_path / "out.tar.gz", "wb") as out:
        written = write_archive(tmp_path / "inst", NAMES, out, **AS_USER)
    assert written == (tmp_path / "out.tar.gz").stat().st_size
    got = members(tmp_path / "out.tar.gz")
    assert got == want  # no symlink, FIFO or unnamed file; the hard link as a copy
    assert list(got) == sorted(got)  # sorted: a directory before what it holds


def test_it_extracts_with_tarfile_and_with_tar_xzf(tmp_path: Path) -> None:
    want = make_tree(tmp_path / "inst")
    archive = tmp_path / "out.tar.gz"
    with open(archive, "wb") as out:
        write_archive(tmp_path / "inst", NAMES, out, **AS_USER)
    (tmp_path / "py").mkdir()
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(tmp_path / "py")
    (tmp_path / "gnu").mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(tmp_path / "gnu")], check=True)
    assert extracted(tmp_path / "py") == extracted(tmp_path / "gnu") == want


def test_gzip_stands_in_when_pigz_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n, **kw: None if n == "pigz" else real(n, **kw))
    assert archive_writer.compressor()[0] == "gzip"
    want = make_tree(tmp_path / "inst")
    with open(tmp_path / "out.tar.gz", "wb") as out:
        write_archive(tmp_path / "inst", NAMES, out, **AS_USER)
    assert members(tmp_path / "out.tar.gz") == want


def test_the_same_tree_gives_the_same_tar_of_the_size_foreseen(tmp_path: Path) -> None:
    make_tree(tmp_path / "inst")
    (tmp_path / "inst" / ("long-" * 30)).write_text("a name over 100 characters")
    names = [*NAMES, "long-" * 30]
    first, second = io.BytesIO(), io.BytesIO()
    size = stream_tar(tmp_path / "inst", names, first.write, **AS_USER)
    stream_tar(tmp_path / "inst", names, second.write, **AS_USER)
    assert first.getvalue() == second.getvalue()  # what restic deduplicates best
    assert size == len(first.getvalue()) == list_tree(tmp_path / "inst", names).tar_bytes


def test_every_child_runs_as_the_user_at_nice_10_and_best_effort_io_7(tmp_path: Path) -> None:
    make_tree(tmp_path / "inst", big=8 << 20)
    seen: dict[str, tuple[int, int, str]] = {}

    def look(done: int, total: int) -> None:
        for name in ("tar", archive_writer.compressor()[0]):
            for pid in children(name):
                stat = Path(f"/proc/{pid}/stat").read_text()
                nice = int(stat[stat.rindex(")") + 2 :].split()[16])
                status = Path(f"/proc/{pid}/status").read_text()
                uid = int(
                    next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1]
                )
                io_class = subprocess.run(
                    ["ionice", "-p", str(pid)], capture_output=True, text=True
                )
                seen.setdefault(name, (nice, uid, io_class.stdout.strip()))  # while alive

    with open(tmp_path / "out.tar.gz", "wb") as out:
        write_archive(tmp_path / "inst", NAMES, out, **AS_USER, on_progress=look)
    uid = NOBODY if ROOT else os.geteuid()
    assert seen == {
        "tar": (10, uid, "best-effort: prio 7"),
        archive_writer.compressor()[0]: (10, uid, "best-effort: prio 7"),
    }


@pytest.mark.parametrize("victim", ["tar", "compressor"])
def test_a_child_killed_midway_makes_it_raise(tmp_path: Path, victim: str) -> None:
    make_tree(tmp_path / "inst", big=16 << 20)
    name = "tar" if victim == "tar" else archive_writer.compressor()[0]

    def kill(done: int, total: int) -> None:
        for pid in children(name):
            os.kill(pid, signal.SIGKILL)

    with open(tmp_path / "out.tar.gz", "wb") as out, pytest.raises(WarlockError) as caught:
        write_archive(tmp_path / "inst", NAMES, out, **AS_USER, on_progress=kill)
    assert "killed by signal 9" in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreadable_file_fails_the_archive_in_one_line(tmp_path: Path) -> None:
    make_tree(tmp_path / "inst")
    secret = tmp_path / "inst" / "world" / "secret.json"
    secret.write_text("root's")
    if ROOT:
        os.chown(secret, 0, 0)  # a file only root may read, in the instance's tree
    secret.chmod(0o600 if ROOT else 0)
    with open(tmp_path / "out.tar.gz", "wb") as out, pytest.raises(WarlockError) as caught:
        write_archive(tmp_path / "inst", NAMES, out, **AS_USER)
    message = str(caught.value)
    assert "world/secret.json: Cannot open: Permission denied" in message
    assert "\n" not in message


def test_a_missing_name_fails_the_listing(tmp_path: Path) -> None:
    make_tree(tmp_path / "inst")
    with pytest.raises(WarlockError, match=r"listing .* failed: find: .*gone.*No such file"):
        list_tree(tmp_path / "inst", ["world", "gone"], **AS_USER)


@pytest.mark.parametrize("bad", ["../etc", "/etc", "world/../../x", ""])
def test_names_must_stay_inside(tmp_path: Path, bad: str) -> None:
    make_tree(tmp_path / "inst")
    sink: Callable[[bytes], object] = io.BytesIO().write
    with pytest.raises(InvalidInput, match="expected a path inside"):
        stream_tar(tmp_path / "inst", ["world", bad], sink)


def _tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    raw.seek(0)
    return raw


def test_a_checked_extraction_keeps_files_and_directories_without_special_bits(
    tmp_path: Path,
) -> None:
    world, save = tarfile.TarInfo("world"), tarfile.TarInfo("world/save.json")
    world.type, world.mode, save.mode = tarfile.DIRTYPE, 0o755, 0o4755
    tops = archive_writer.extract_checked(
        _tar_of((world, b""), (save, b"{}")), tmp_path / "out", "snapshot x"
    )
    assert tops == ["world"]
    assert (tmp_path / "out" / "world" / "save.json").read_bytes() == b"{}"
    assert (tmp_path / "out" / "world" / "save.json").stat().st_mode & 0o7777 == 0o755


@pytest.mark.parametrize(
    ("name", "kind", "why"),
    [
        ("../escape", tarfile.REGTYPE, "points outside"),
        ("/etc/cron.d/x", tarfile.REGTYPE, "points outside"),
        ("world/link", tarfile.SYMTYPE, "is not a plain file"),
        ("world/hard", tarfile.LNKTYPE, "is not a plain file"),
        ("world/fifo", tarfile.FIFOTYPE, "is not a plain file"),
    ],
)
def test_a_checked_extraction_refuses_what_is_not_data(
    tmp_path: Path, name: str, kind: bytes, why: str
) -> None:
    bad = tarfile.TarInfo(name)
    bad.type, bad.linkname = kind, "/etc/shadow"
    with pytest.raises(InvalidInput, match=f"snapshot x: '{name}' {why}"):
        archive_writer.extract_checked(_tar_of((bad, b"")), tmp_path / "out", "snapshot x")
    assert not (tmp_path / "escape").exists()
