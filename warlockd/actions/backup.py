"""backup and backups: an archive of the instance's saves in its backups directory, keeping
the newest N if asked (archives.py writes it, read as the instance's user), or a snapshot
in the off-site repository (offsite.py: restic, incremental, deduplicated, encrypted); and
the list of both, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from .. import archives, fsutil, layout, offsite
from ..apps import find_app
from ..config import load
from ..errors import InvalidInput, WarlockError
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one

TARGETS = ("local", "offsite")


class BackupResult(NamedTuple):
    instance_id: str
    file: str
    size: int
    pruned: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return self._asdict() | {"pruned": list(self.pruned)}


def backup(host: Host, inst: Instance, max_backups: int | None = None) -> BackupResult:
    if max_backups is not None and max_backups < 1:
        raise InvalidInput(f"--max-backups {max_backups}: expected 1 or more")
    app = find_app(host.paths, inst.app)
    with fsutil.locked(archives.lock(inst)):
        made = archives.write(inst, app, on_progress=host.report(f"backup of {inst.id}"))
        pruned: list[str] = []
        if max_backups is not None:
            for old in archives.existing(inst)[:-max_backups]:
                if old != made:
                    fsutil.remove(old)
                    pruned.append(str(old))
    size = made.stat().st_size
    host.record_event("backup", inst.id, f"backed up to {made.name} ({size} bytes)", file=str(made))
    return BackupResult(inst.id, str(made), size, tuple(pruned))


def offsite_settings(host: Host) -> offsite.OffsiteSettings:
    """The repository warlockd.toml names, or an error saying how to name one."""
    settings = load(host.paths.config_file).offsite
    if settings is None:
        raise InvalidInput(
            "no off-site repository is configured",
            hint=f"add an [offsite] table to {host.paths.config_file} (see its comments)",
        )
    return settings


def backup_offsite(host: Host, inst: Instance, keep: int | None = None) -> dict[str, Any]:
    """A snapshot of the saves in the off-site repository; then, with `keep` (or the
    repository's keep_* policy), this instance's older snapshots forgotten and pruned."""
    if keep is not None and keep < 1:
        raise InvalidInput(f"--max-backups {keep}: expected 1 or more")
    s = offsite_settings(host)
    app = find_app(host.paths, inst.app)
    root = layout.data_dir(inst)
    names = archives.members(inst, app)
    report = host.report(f"off-site backup of {inst.id}")
    offsite.init(s)
    snap = offsite.backup(
        s, inst.id, root, names,
        on_progress=(lambda done, total, left: report(done, total)) if report else None,
    )  # fmt: skip
    policy = any((s.keep_last, s.keep_daily, s.keep_weekly, s.keep_monthly))
    forgotten = offsite.forget(s, inst.id, keep_last=keep) if keep or policy else []
    what = f"backed up to {s.repository} as snapshot {snap.short_id}"
    host.record_event("backup", inst.id, what, snapshot=snap.id, repository=s.repository)
    return {"instance_id": inst.id, "to": "offsite", "snapshot": snap.to_dict(),
            "forgotten": forgotten}  # fmt: skip


def do_backup(host: Host, args: Args) -> Outcome:
    if args.to not in TARGETS:
        raise InvalidInput(f"--to {args.to!r}: expected local or offsite")
    inst = one(host, args)
    if args.to == "offsite":
        done = backup_offsite(host, inst, args.max_backups)
        short = done["snapshot"]["short_id"]
        return Outcome(done, (f"{inst.id}: backed up off-site as snapshot {short}",))
    result = backup(host, inst, args.max_backups)
    return Outcome(result.to_dict(), (f"{inst.id}: backed up to {result.file}",))


def do_backups(host: Host, args: Args) -> Outcome:
    """Local archives and, when a repository is configured, off-site snapshots; newest
    first. What `restore` takes: the file name, or offsite:<snapshot id>."""
    inst = one(host, args)
    rows: list[tuple[float, dict[str, Any]]] = []  # (when, row): seconds can tie
    for path in archives.existing(inst):
        st = path.stat()
        when = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
        rows.append((st.st_mtime, {"where": "local", "name": path.name, "time": when,
                                   "size": st.st_size, "restore": path.name}))  # fmt: skip
    notes: tuple[str, ...] = ()
    settings = load(host.paths.config_file).offsite
    if settings is not None:
        try:
            for snap in offsite.snapshots(settings, inst.id):
                when = snap.time.astimezone(UTC).isoformat(timespec="seconds")
                row = {"where": "offsite", "name": snap.short_id, "time": when,
                       "size": snap.size, "restore": f"offsite:{snap.id}"}  # fmt: skip
                rows.append((snap.time.timestamp(), row))
        except WarlockError as e:  # the repository is down: the local ones still count
            notes = (f"warning: off-site snapshots not listed: {e}",)
    rows.sort(key=lambda r: r[0], reverse=True)
    return Outcome([r | {"instance_id": inst.id} for _, r in rows], notes)
