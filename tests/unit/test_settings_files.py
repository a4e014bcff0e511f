"""files.py as root against a hostile game user: links, FIFOs and hard links planted in the
instance directory are refused without being followed; writes are atomic and keep the old
file's owner, group and mode."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput
from warlockd.settings import files

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
UID, GID = 4242, 4343  # the game's user, as far as the file system knows


def snapshot(*roots: Path) -> dict[str, tuple[int, int, int, bytes | str | None]]:
    """Every path under `roots` (links not followed) with its mode, owner and content."""
    out: dict[str, tuple[int, int, int, bytes | str | None]] = {}
    for root in roots:
        for p in [root, *sorted(root.rglob("*"))]:
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                content: bytes | str | None = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                content = p.read_bytes()
            else:
                content = None
            out[str(p)] = (st.st_mode, st.st_uid, st.st_gid, content)
    return out


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An instance directory and, beside it, a directory the game must never reach."""
    inst, outside = tmp_path / "instance", tmp_path / "outside"
    inst.mkdir()
    outside.mkdir()
    (outside / "secret.cfg").write_text("rconpassword=root-only\n")
    return inst, outside


def test_a_missing_file_or_directory_reads_as_none(dirs: tuple[Path, Path]) -> None:
    inst, _ = dirs
    assert files.read(inst, "server.cfg") == files.Loaded(None)
    assert files.read(inst, "home/baseoa/server.cfg") == files.Loaded(None)
    assert files.read(inst / "gone", "server.cfg") == files.Loaded(None)


def test_a_write_replaces_the_file_atomically_and_leaves_no_temp_file(
    dirs: tuple[Path, Path],
) -> None:
    inst, _ = dirs
    target = inst / "server.cfg"
    target.write_text("old\n")
    before = target.stat().st_ino
    files.write(inst, "server.cfg", "new\n")
    assert target.read_text() == "new\n" and target.stat().st_ino != before
    assert [p.name for p in inst.iterdir()] == ["server.cfg"]
    assert files.read(inst, "server.cfg") == files.Loaded("new\n", "utf-8")


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    inst, _ = dirs
    (inst / "server.cfg").write_text("old\n")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        files.write(inst, "server.cfg", "new\n")
    assert [p.name for p in inst.iterdir()] == ["server.cfg"]
    assert (inst / "server.cfg").read_text() == "old\n"


def test_a_symlinked_file_is_refused_without_following(dirs: tuple[Path, Path]) -> None:
    inst, outside = dirs
    (inst / "server.cfg").symlink_to(outside / "secret.cfg")
    before = snapshot(inst, outside)
    with pytest.raises(InvalidInput, match=r"^server\.cfg is a symbolic link: refused"):
        files.read(inst, "server.cfg")
    with pytest.raises(InvalidInput, match="symbolic link"):
        files.write(inst, "server.cfg", "rconpassword=mine\n")
    assert snapshot(inst, outside) == before


def test_a_dangling_symlink_is_refused_and_nothing_is_made_at_its_target(
    dirs: tuple[Path, Path],
) -> None:
    inst, outside = dirs
    (inst / "server.cfg").symlink_to(outside / "cron-job")
    with pytest.raises(InvalidInput, match="symbolic link"):
        files.write(inst, "server.cfg", "* * * * * root sh\n")
    assert not (outside / "cron-job").exists()


def test_a_symlinked_directory_along_the_path_is_refused(dirs: tuple[Path, Path]) -> None:
    inst, outside = dirs
    (inst / "home").mkdir()
    (inst / "home" / "baseoa").symlink_to(outside)
    before = snapshot(inst, outside)
    with pytest.raises(InvalidInput, match="home/baseoa is a symbolic link: refused"):
        files.read(inst, "home/baseoa/secret.cfg")
    with pytest.raises(InvalidInput, match="home/baseoa is a symbolic link"):
        files.write(inst, "home/baseoa/server.cfg", "x\n")
    (inst / "top").symlink_to(outside)  # the first directory of the path, too
    with pytest.raises(InvalidInput, match="top is a symbolic link"):
        files.write(inst, "top/server.cfg", "x\n")
    assert snapshot(outside) == {k: v for k, v in before.items() if k.startswith(str(outside))}


def test_a_symlinked_instance_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(InvalidInput):
        files.write(tmp_path / "link", "server.cfg", "x\n")
    assert list(real.iterdir()) == []


def test_a_fifo_is_refused_without_blocking(dirs: tuple[Path, Path]) -> None:
    inst, _ = dirs
    os.mkfifo(inst / "server.cfg")
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            files.read(inst, "server.cfg")
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # a reader that opened the FIFO waits for a writer: free it
        fd = os.open(inst / "server.cfg", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("reading a FIFO blocked")
    assert isinstance(outcome[0], InvalidInput)
    assert "not a regular file" in str(outcome[0])
    with pytest.raises(InvalidInput, match="not a regular file"):
        files.write(inst, "server.cfg", "x\n")
    assert stat.S_ISFIFO((inst / "server.cfg").lstat().st_mode)


def test_a_directory_or_a_hard_link_where_the_file_should_be_is_refused(
    dirs: tuple[Path, Path],
) -> None:
    inst, outside = dirs
    (inst / "server.cfg").mkdir()
    with pytest.raises(InvalidInput, match="not a regular file"):
        files.read(inst, "server.cfg")
    os.link(outside / "secret.cfg", inst / "linked.cfg")
    with pytest.raises(InvalidInput, match="other hard links"):
        files.read(inst, "linked.cfg")
    with pytest.raises(InvalidInput, match="other hard links"):
        files.write(inst, "linked.cfg", "x\n")
    assert (outside / "secret.cfg").read_text() == "rconpassword=root-only\n"


@root_only
def test_a_write_keeps_the_owner_group_and_mode_of_the_old_file(dirs: tuple[Path, Path]) -> None:
    inst, _ = dirs
    target = inst / "server.properties"
    target.write_text("motd=x\n")
    os.chown(target, UID, GID)
    os.chmod(target, 0o604)
    files.write(inst, "server.properties", "motd=y\n")
    st = target.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (UID, GID, 0o604)


@root_only
def test_a_new_file_and_new_directories_are_owned_like_their_parent(
    dirs: tuple[Path, Path],
) -> None:
    inst, _ = dirs
    os.chown(inst, UID, GID)
    os.chmod(inst, 0o750)
    files.write(inst, "Pal/Saved/Config/LinuxServer/PalWorldSettings.ini", "[S]\n")
    for d in ("Pal", "Pal/Saved", "Pal/Saved/Config", "Pal/Saved/Config/LinuxServer"):
        st = (inst / d).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (UID, GID, 0o750), d
    st = (inst / "Pal/Saved/Config/LinuxServer/PalWorldSettings.ini").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (UID, GID, 0o640)


def test_a_set_id_bit_is_not_copied_to_the_new_file(dirs: tuple[Path, Path]) -> None:
    inst, _ = dirs
    target = inst / "server.cfg"
    target.write_text("x\n")
    os.chmod(target, 0o4755)
    files.write(inst, "server.cfg", "y\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("bom", "codec", "encoding"),
    [
        (b"\xff\xfe", "utf-16-le", "utf-16-le"),  # what Unreal writes for non-ASCII text
        (b"\xfe\xff", "utf-16-be", "utf-16-be"),
        (b"\xef\xbb\xbf", "utf-8", "utf-8-sig"),
        (b"", "utf-8", "utf-8"),
    ],
)
def test_a_file_is_written_back_in_its_own_encoding(
    dirs: tuple[Path, Path], bom: bytes, codec: str, encoding: str
) -> None:
    inst, _ = dirs
    (inst / "a.ini").write_bytes(bom + "[S]\r\nName=é\r\n".encode(codec))
    loaded = files.read(inst, "a.ini")
    assert loaded == files.Loaded("[S]\r\nName=é\r\n", encoding)
    files.write(inst, "a.ini", "[S]\r\nName=ü\r\n", loaded.encoding)
    assert (inst / "a.ini").read_bytes() == bom + "[S]\r\nName=ü\r\n".encode(codec)


def test_a_file_that_is_not_utf8_or_too_big_is_refused(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    inst, _ = dirs
    (inst / "latin1.properties").write_bytes("motd=café\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        files.read(inst, "latin1.properties")
    monkeypatch.setattr(files, "MAX_SIZE", 10)
    (inst / "big.cfg").write_text("x" * 11)
    with pytest.raises(InvalidInput, match="larger than"):
        files.read(inst, "big.cfg")


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a//b", "./x", "a/../b", "a/"])
def test_paths_that_are_not_plain_and_relative_are_refused(
    dirs: tuple[Path, Path], rel: str
) -> None:
    inst, _ = dirs
    with pytest.raises(InvalidInput, match="not a plain relative path"):
        files.write(inst, rel, "x\n")
