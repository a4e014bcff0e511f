"""Backup archives of an instance's saves: `<path>/backups/<id>-backup-*.tar.gz`.

What goes in: the paths the app's manifest names as saves (or, when it names none, the
game's whole directory but its console), read by tar and pigz running as the instance's
user at a low priority (archive_writer.py). An archive is written beside its final name
and renamed into place, so one cut short never looks finished (and the next one removes
what it left). Putting saves back accepts only plain files
and directories inside the instance directory, keeps a safety archive of what it
replaces, and swaps each save path in with a rename. The verbs that use these (backup,
restore, clone, pack) are in actions/.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from . import fsutil, layout
from .apps import App
from .archive_writer import Progress, run_as_owner, write_archive
from .errors import InvalidInput, NotFound
from .model import Instance

BACKUPS = layout.BACKUPS
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")  # what a panel may pass as a bare file name
# not saves: the runner's FIFO, and (in layout 1, where they shared a directory) the archives
_SKIP = {BACKUPS, "console"}


def backup_dir(inst: Instance) -> Path:
    if not layout.data_dir(inst).is_dir():
        raise NotFound(f"{inst.id}: its directory {layout.data_dir(inst)} is missing")
    return layout.backups_dir(inst)


def members(inst: Instance, app: App) -> list[str]:
    root = layout.data_dir(inst)
    if app.saves:
        return [s for s in app.saves if (root / s).exists()]
    return sorted(p.name for p in root.iterdir() if p.name not in _SKIP)


def lock(inst: Instance) -> Path:
    """The instance's backup lock, in its backups directory, made root-only first (the
    lock would make it 0755)."""
    d = backup_dir(inst)
    d.mkdir(mode=0o700, exist_ok=True)
    return d / ".lock"


def existing(inst: Instance) -> list[Path]:
    """This instance's archives, oldest first (by when each was written: names made in
    the same second differ only by a suffix)."""
    d = backup_dir(inst)
    if not d.is_dir():
        return []
    return sorted(
        d.glob(f"{inst.id}-backup-*.tar.gz"), key=lambda p: (p.stat().st_mtime_ns, p.name)
    )


@contextmanager
def placed(d: Path, stem: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A new root-only `<stem>.tar.gz` in d (`<stem>-2`... when one by that name exists):
    written beside its name, fsynced and renamed into place; removed on any failure."""
    _sweep(d)
    final = d / f"{stem}.tar.gz"
    n = 1
    while final.exists():  # two in one second
        n += 1
        final = d / f"{stem}-{n}.tar.gz"
    tmp = d / f".{final.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            yield out, final
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        fsutil.fsync_dir(d)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sweep(d: Path) -> None:
    """Remove what an archive killed half-way (kill -9, power loss) left: its temporary
    file, named after the process that wrote it, which is gone."""
    for tmp in d.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            tmp.unlink(missing_ok=True)


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def write(inst: Instance, app: App, suffix: str = "", on_progress: Progress | None = None) -> Path:
    """A new archive of the instance's saves in its backups directory (the caller holds
    lock(inst)). tar and pigz read as the instance's user (a game that swaps a save for a
    link to a file only root may read gets a permission error, not that file in its
    backup), at a low CPU and I/O priority (archive_writer.py)."""
    d = backup_dir(inst)
    root = layout.data_dir(inst)
    with placed(d, f"{inst.id}-backup-{stamp()}{suffix}") as (out, final):
        write_archive(
            root, members(inst, app), out, **run_as_owner(root), on_progress=on_progress,
            timeout=6 * 3600,
        )  # fmt: skip
    return final


def resolve_archive(inst: Instance, given: str) -> Path:
    """A bare name is one of the instance's backups; a path is taken as it is."""
    if "/" not in given:
        if not _NAME_RE.fullmatch(given):
            raise InvalidInput(f"backup name {given!r}: expected letters, digits, . _ -")
        path = backup_dir(inst) / given
    else:
        path = Path(given)
        if not path.is_absolute():
            raise InvalidInput(f"backup path {given!r}: expected an absolute path or a name")
    if not path.is_file():
        raise NotFound(f"no backup {path}", hint=f"manage.py backup --instance {inst.id}")
    return path


def checked_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """Every member, refusing anything that could land outside or be more than data."""
    out = []
    for info in tar.getmembers():
        name = PurePosixPath(info.name)
        if name.is_absolute() or ".." in name.parts or not name.parts:
            raise InvalidInput(f"{archive.name}: {info.name!r} points outside")
        if not (info.isfile() or info.isdir()):
            raise InvalidInput(f"{archive.name}: {info.name!r} is not a plain file")
        if name.parts[0] in _SKIP:
            raise InvalidInput(f"{archive.name}: {info.name!r} is not a save")
        info.mode &= 0o777  # no setuid, setgid or sticky bits from an archive
        out.append(info)
    if not out:
        raise InvalidInput(f"{archive.name} is empty")
    return out


def swap(root: Path, work: Path, tops: list[str]) -> None:
    """Each save path in with one rename, the old one set aside; all back on a failure."""
    swapped: list[str] = []
    try:
        for top in tops:
            if (root / top).exists():
                os.rename(root / top, work / "old" / top)
            swapped.append(top)
            os.rename(work / "new" / top, root / top)
    except OSError:
        for top in reversed(swapped):
            target = root / top
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            if (work / "old" / top).exists():
                os.rename(work / "old" / top, target)
        raise
    fsutil.fsync_dir(root)


def replace_saves(
    inst: Instance, app: App, archive: Path, tar: tarfile.TarFile,
    members: list[tarfile.TarInfo], safety: bool, on_progress: Progress | None = None,
) -> Path | None:  # fmt: skip
    """Put the checked `members` of `tar` in place of the instance's saves, owned by its
    user; returns the safety archive of what was replaced (None without `safety`)."""

    def fill(new: Path) -> list[str]:
        new.mkdir(mode=0o700)
        total, done = sum(m.size for m in members), 0
        for member in members:  # each one checked
            tar.extract(member, new, set_attrs=not member.isdir())
            done += member.size
            if on_progress is not None:
                on_progress(done, total)
        # directories' modes last, deepest first, as extractall does: a read-only one
        # would have refused what goes in it
        for member in sorted((m for m in members if m.isdir()), key=lambda m: m.name)[::-1]:
            path = new / member.name
            path.chmod(member.mode & 0o777)
            os.utime(path, (member.mtime, member.mtime))
        return tops(members)

    return replace_with(inst, app, fill, safety)


def replace_with(
    inst: Instance, app: App, fill: Callable[[Path], list[str]], safety: bool
) -> Path | None:
    """Put what `fill` makes in a new directory (given its path; it returns the save paths
    it made) in place of the instance's saves, owned by the instance's user; returns the
    safety archive of what was replaced (None without `safety`)."""
    root = layout.data_dir(inst)
    st = root.stat()
    with fsutil.locked(lock(inst)):
        kept = write(inst, app, suffix="-pre-restore") if safety else None
        work = root / f".restore-{os.getpid()}"
        work.mkdir(mode=0o700)
        try:
            names = fill(work / "new")
            for dirpath, dirnames, filenames in os.walk(work / "new"):
                for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                    os.chown(n, st.st_uid, st.st_gid, follow_symlinks=False)
            (work / "old").mkdir()
            swap(root, work, names)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return kept


def tops(members: list[tarfile.TarInfo]) -> list[str]:
    """The save paths (first components) an archive's members fill."""
    return sorted({PurePosixPath(m.name).parts[0] for m in members})
