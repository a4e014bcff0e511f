"""Backups of an instance's saves, and restoring one: `<path>/backups/<id>-backup-*.tar.gz`.

What goes in: the paths the app's manifest names as saves (or, when it names none, the
whole instance directory but its backups and console). An archive is written beside
its final name and renamed into place, so a backup cut short never looks finished.
Restoring refuses while the game runs (`--force` stops it, and starts it again after),
accepts only plain files and directories inside the instance directory, keeps a
safety backup of what it replaces, and swaps each save path in with a rename.
A clone is a new instance of the same game with another's saves: a backup of the source
restored into it, then removed. A pack carries an instance to another host: its settings
(`instance.json`: app, name, limits, env; no secrets, paths or ports) and a backup of its
saves (`saves.tar.gz`), in one archive; importing one makes a new instance from it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from . import fsutil
from .apps import App, find_app
from .errors import Conflict, InvalidInput, NotFound, WarlockError
from .host import Host
from .model import MAX_NAME, Instance
from .units import PACKAGE_ROOT

BACKUPS = "backups"
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")  # what a panel may pass as a bare file name
_SKIP = {BACKUPS, "console"}  # not saves: the archives themselves, the runner's FIFO


@dataclass(frozen=True)
class BackupResult:
    instance_id: str
    file: str
    size: int
    pruned: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return self.__dict__ | {"pruned": list(self.pruned)}


def backup_dir(inst: Instance) -> Path:
    if not Path(inst.path).is_dir():
        raise NotFound(f"{inst.id}: its directory {inst.path} is missing")
    return Path(inst.path) / BACKUPS


def _members(inst: Instance, app: App) -> list[str]:
    root = Path(inst.path)
    if app.saves:
        return [s for s in app.saves if (root / s).exists()]
    return sorted(p.name for p in root.iterdir() if p.name not in _SKIP)


def _lock(inst: Instance) -> Path:
    """The instance's backup lock, in its backups directory, made root-only first (the
    lock would make it 0755)."""
    d = backup_dir(inst)
    d.mkdir(mode=0o700, exist_ok=True)
    return d / ".lock"


def _backups(inst: Instance) -> list[Path]:
    """This instance's archives, oldest first (by when each was written: names made in
    the same second differ only by a suffix)."""
    d = backup_dir(inst)
    if not d.is_dir():
        return []
    return sorted(
        d.glob(f"{inst.id}-backup-*.tar.gz"), key=lambda p: (p.stat().st_mtime_ns, p.name)
    )


@contextmanager
def _placed(d: Path, stem: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A new root-only `<stem>.tar.gz` in d (`<stem>-2`... when one by that name exists):
    written beside its name, fsynced and renamed into place; removed on any failure."""
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


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _write_archive(inst: Instance, app: App, suffix: str = "") -> Path:
    d = backup_dir(inst)  # made by _lock(), held by our caller
    root = Path(inst.path)
    st = root.stat()
    # read as the instance's user: a game that swaps a save for a link to a file only
    # root may read gets a permission error, not that file in its backup
    drop: dict[str, Any] = (
        {"user": st.st_uid, "group": st.st_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    )
    try:
        with _placed(d, f"{inst.id}-backup-{_stamp()}{suffix}") as (out, final):
            subprocess.run(
                [sys.executable, "-m", "warlockd.backup", str(root), *_members(inst, app)],
                stdout=out, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True,
                cwd="/", env={"PYTHONPATH": str(PACKAGE_ROOT), "PATH": "/usr/bin:/bin"},
                timeout=3600, **drop,
            )  # fmt: skip
    except subprocess.CalledProcessError as e:
        why = e.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise WarlockError(f"backup of {inst.id} failed: {why[0]}") from None
    return final


def _archive(root: Path, names: list[str], out: BinaryIO) -> None:
    """The archive of `names` under `root`, written to `out` (run as the instance's user)."""
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        for name in names:
            tar.add(root / name, arcname=name, filter=_plain_only)


def _plain_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # a game's symlink or FIFO is not part of its world, and restore would refuse it
    return info if info.isfile() or info.isdir() else None


def backup(host: Host, inst: Instance, max_backups: int | None = None) -> BackupResult:
    if max_backups is not None and max_backups < 1:
        raise InvalidInput(f"--max-backups {max_backups}: expected 1 or more")
    app = find_app(host.paths, inst.app)
    with fsutil.locked(_lock(inst)):
        made = _write_archive(inst, app)
        pruned: list[str] = []
        if max_backups is not None:
            for old in _backups(inst)[:-max_backups]:
                if old != made:
                    fsutil.remove(old)
                    pruned.append(str(old))
    size = made.stat().st_size
    host.record_event("backup", inst.id, f"backed up to {made.name} ({size} bytes)", file=str(made))
    return BackupResult(inst.id, str(made), size, tuple(pruned))


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


def _checked_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
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


def restore(host: Host, inst: Instance, given: str, *, force: bool = False) -> dict[str, object]:
    return _restore_file(host, inst, resolve_archive(inst, given), force=force)


def _restore_file(
    host: Host, inst: Instance, archive: Path, *, force: bool = False, safety: bool = True
) -> dict[str, object]:
    try:
        # one open file from the check to the extraction: what was checked is what lands
        with tarfile.open(archive, "r:gz") as tar:
            members = _checked_members(tar, archive)
            return _restore(host, inst, archive, tar, members, force, safety)
    except (tarfile.TarError, EOFError) as e:
        raise InvalidInput(f"{archive.name} is not a readable .tar.gz: {e}") from None


def _restore(
    host: Host, inst: Instance, archive: Path, tar: tarfile.TarFile,
    members: list[tarfile.TarInfo], force: bool, safety: bool,
) -> dict[str, object]:  # fmt: skip
    from .actions import start, stop

    tops = sorted({PurePosixPath(m.name).parts[0] for m in members})
    app = find_app(host.paths, inst.app)
    loaded = host.systemd.states(inst.unit).get(inst.unit)
    running = bool(loaded and loaded.active in ("active", "activating", "reloading"))
    if running and not force:
        raise Conflict(
            f"{inst.id} is running: restoring would overwrite the world under it",
            hint="stop it first, or pass --force to stop it and start it again after",
        )
    if running:
        stop(host, inst)
    root = Path(inst.path)
    st = root.stat()
    with fsutil.locked(_lock(inst)):
        kept = _write_archive(inst, app, suffix="-pre-restore") if safety else None
        work = root / f".restore-{os.getpid()}"
        work.mkdir(mode=0o700)
        try:
            tar.extractall(work / "new", members=members)  # each one checked
            for dirpath, dirnames, filenames in os.walk(work / "new"):
                for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                    os.chown(n, st.st_uid, st.st_gid, follow_symlinks=False)
            (work / "old").mkdir()
            _swap(root, work, tops)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if kept:
        host.record_event(
            "backup", inst.id, f"restored {archive.name} (safety copy {kept.name})",
            file=str(archive), safety=str(kept),
        )  # fmt: skip
    if running:
        start(host, inst)
    return {
        "instance_id": inst.id, "restored": str(archive),
        "safety_backup": str(kept) if kept else None, "paths": tops, "restarted": running,
    }  # fmt: skip


def clone(
    host: Host,
    source: Instance,
    *,
    name: str | None = None,
    instance_id: str | None = None,
    ports: Sequence[str] = (),
    dir: str | None = None,
) -> Instance:
    """A new instance of the source's game, with its limits, environment and a copy of
    its saves; its own id, user, ports and secrets. If the copy fails, the new instance
    is deleted again and the source is as it was."""
    from .actions import CreateRequest, create

    app = find_app(host.paths, source.app)
    backup_dir(source)  # a source without its directory is refused before anything is made
    made = create(
        host,
        CreateRequest(
            app=source.app,
            name=name if name is not None else _copy_name(source.name),
            instance_id=instance_id,
            ports=ports,
            dir=dir,
            limits=source.limits,
            env=[f"{k}={v}" for k, v in source.env.items()],
        ),
    )

    def copy() -> None:
        if not _members(source, app):
            return
        with fsutil.locked(_lock(source)):
            archive = _write_archive(source, app, suffix=f"-clone-{made.id[:8]}")
        try:
            _restore_file(host, made, archive, safety=False)
        finally:
            fsutil.remove(archive)

    message = f"cloned from {source.id} ({source.name})"
    return _filled(host, made, copy, message, source=source.id)


def _filled(
    host: Host, made: Instance, fill: Callable[[], None], message: str, **data: Any
) -> Instance:
    """A new instance given its saves by `fill`, or deleted again if that fails."""
    from .actions import delete

    try:
        fill()
        host.record_event("backup", made.id, message, **data)
    except BaseException:
        delete(host, made, purge=True)
        raise
    return made


PACK_FORMAT = 1
PACK_RECORD = "instance.json"
PACK_SAVES = "saves.tar.gz"
_MAX_RECORD = 64 * 1024


def pack(host: Host, inst: Instance) -> dict[str, object]:
    """`<path>/backups/<id>-pack-<time>.tar.gz`: what `import` needs on another host."""
    app = find_app(host.paths, inst.app)
    record = {
        "format": PACK_FORMAT,
        "app": inst.app,
        "app_slug": app.slug,
        "name": inst.name,
        "limits": inst.limits.to_dict(),
        "env": dict(inst.env),
        "ports": dict(inst.ports),  # what it had; the importing host allocates its own
        "source_id": inst.id,
        "packed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with fsutil.locked(_lock(inst)):
        saves = _write_archive(inst, app, suffix="-pack-saves") if _members(inst, app) else None
        try:
            final = _write_pack(inst, json.dumps(record, indent=2).encode(), saves)
        finally:
            if saves:
                fsutil.remove(saves)
    size = final.stat().st_size
    host.record_event("backup", inst.id, f"packed to {final.name} ({size} bytes)", file=str(final))
    return {"instance_id": inst.id, "file": str(final), "size": size}


def _write_pack(inst: Instance, record: bytes, saves: Path | None) -> Path:
    with (
        _placed(backup_dir(inst), f"{inst.id}-pack-{_stamp()}") as (out, final),
        tarfile.open(fileobj=out, mode="w:gz") as tar,
    ):
        info = tarfile.TarInfo(PACK_RECORD)
        info.size, info.mode, info.mtime = len(record), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(record))
        if saves:
            tar.add(saves, arcname=PACK_SAVES, recursive=False)
    return final


def import_pack(
    host: Host,
    given: str,
    *,
    name: str | None = None,
    instance_id: str | None = None,
    ports: Sequence[str] = (),
    dir: str | None = None,
) -> Instance:
    """A new instance from a pack: its settings, new ports, user and secrets, and its
    saves restored. Everything in the pack is checked before anything is made."""
    import tempfile

    from .actions import CreateRequest, create

    archive = Path(given)
    if not archive.is_absolute():
        raise InvalidInput(f"pack {given!r}: expected an absolute path")
    if not archive.is_file():
        raise NotFound(f"no pack {archive}")
    host.paths.state.mkdir(parents=True, exist_ok=True, mode=0o755)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=host.paths.state) as work:
        record, saves = _open_pack(archive, Path(work))
        app = find_app(host.paths, record["app"])  # this host must have the game
        req = CreateRequest(
            app=app.guid,
            name=name if name is not None else record["name"],
            instance_id=instance_id,
            ports=ports,
            dir=dir,
            limits=record["limits"],
            env=[f"{k}={v}" for k, v in record["env"].items()],
        )
        made = create(host, req)

        def restore() -> None:
            if saves:
                _restore_file(host, made, saves, safety=False)

        return _filled(host, made, restore, f"imported from {archive.name}", file=str(archive))


def _open_pack(archive: Path, work: Path) -> tuple[dict[str, Any], Path | None]:
    """The pack's record, checked, and its saves archive (its members checked) in `work`."""
    from .model import Limits, validate_guid

    bad = f"{archive.name} is not a warlockd pack"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if set(members) - {PACK_RECORD, PACK_SAVES} or PACK_RECORD not in members:
                raise InvalidInput(f"{bad}: it holds {', '.join(sorted(members)) or 'nothing'}")
            if not all(m.isfile() for m in members.values()):
                raise InvalidInput(f"{bad}: its members must be plain files")
            if members[PACK_RECORD].size > _MAX_RECORD:
                raise InvalidInput(f"{bad}: {PACK_RECORD} is too large")
            raw = tar.extractfile(members[PACK_RECORD])
            data = json.loads(raw.read() if raw else b"")
            saves = None
            if PACK_SAVES in members:
                saves = work / PACK_SAVES
                src = tar.extractfile(members[PACK_SAVES])
                if src is None:
                    raise InvalidInput(f"{bad}: {PACK_SAVES} is not a file")
                with open(saves, "wb") as out:
                    shutil.copyfileobj(src, out)
                with tarfile.open(saves, "r:gz") as inner:
                    _checked_members(inner, saves)  # refused now, before anything is made
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidInput(f"{bad}: {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{bad}: {PACK_RECORD}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        raise InvalidInput(f"{bad}: {PACK_RECORD} is not format {PACK_FORMAT}")
    try:
        env = data.get("env", {})
        if not isinstance(env, dict):
            raise InvalidInput("env is not a table")
        record = {
            "app": validate_guid(str(data["app"])),
            "name": str(data["name"]),
            "limits": Limits.from_dict(dict(data.get("limits", {}))),
            "env": {str(k): str(v) for k, v in env.items()},
        }
    except KeyError as e:
        raise InvalidInput(f"{bad}: {PACK_RECORD} has no {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:  # InvalidInput too: a bad limit, a bad guid
        raise InvalidInput(f"{bad}: {PACK_RECORD}: {e}") from None
    return record, saves


def _copy_name(name: str) -> str:
    suffix = " (copy)"
    return name[: MAX_NAME - len(suffix)] + suffix


def _swap(root: Path, work: Path, tops: list[str]) -> None:
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


if __name__ == "__main__":  # python3 -m warlockd.backup ROOT NAME...: the archive on stdout
    _archive(Path(sys.argv[1]), sys.argv[2:], sys.stdout.buffer)
