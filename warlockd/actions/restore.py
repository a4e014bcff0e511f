"""restore: put a backup's saves back. Refused while the game runs unless forced (then
stopped, restored and started again); a safety archive of what is replaced comes first."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import archives
from ..apps import find_app
from ..errors import Conflict, InvalidInput
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one
from .start_stop import start, stop

OFFSITE = "offsite:"


def restore(host: Host, inst: Instance, given: str, *, force: bool = False) -> dict[str, object]:
    """A local backup (its name or path), or an off-site snapshot (`offsite:<id>`)."""
    if given.startswith(OFFSITE):
        return restore_offsite(host, inst, given.removeprefix(OFFSITE), force=force)
    return restore_file(host, inst, archives.resolve_archive(inst, given), force=force)


def restore_offsite(
    host: Host, inst: Instance, snapshot: str, *, force: bool = False
) -> dict[str, object]:
    """An off-site snapshot of this instance (another's is refused) put back with the
    same rules as a local backup: refused while running unless forced, a safety archive
    first, only plain files and directories, owned by the instance's user."""
    from .. import offsite
    from .backup import offsite_settings

    if not snapshot or not snapshot.replace("-", "").isalnum():
        raise InvalidInput(f"snapshot {snapshot!r}: expected offsite:<snapshot id>")
    settings = offsite_settings(host)
    app = find_app(host.paths, inst.app)
    with _stopped(host, inst, force) as running:
        paths: list[str] = []

        def fill(new: Path) -> list[str]:
            paths[:] = offsite.restore(settings, inst.id, snapshot, new)
            return paths

        kept = archives.replace_with(inst, app, fill, safety=True)
        host.record_event(
            "backup", inst.id, f"restored off-site snapshot {snapshot[:8]}",
            snapshot=snapshot, safety=str(kept),
        )  # fmt: skip
    return {
        "instance_id": inst.id, "restored": f"{OFFSITE}{snapshot}",
        "safety_backup": str(kept) if kept else None, "paths": paths, "restarted": running,
    }  # fmt: skip


def restore_file(
    host: Host, inst: Instance, archive: Path, *, force: bool = False, safety: bool = True
) -> dict[str, object]:
    try:
        # one open file from the check to the extraction: what was checked is what lands
        with tarfile.open(archive, "r:gz") as tar:
            members = archives.checked_members(tar, archive)
            return _restore(host, inst, archive, tar, members, force, safety)
    except (tarfile.TarError, EOFError) as e:
        raise InvalidInput(f"{archive.name} is not a readable .tar.gz: {e}") from None


def _restore(
    host: Host, inst: Instance, archive: Path, tar: tarfile.TarFile,
    members: list[tarfile.TarInfo], force: bool, safety: bool,
) -> dict[str, object]:  # fmt: skip
    app = find_app(host.paths, inst.app)
    with _stopped(host, inst, force) as running:
        report = host.report(f"restore of {inst.id}")
        kept = archives.replace_saves(inst, app, archive, tar, members, safety, report)
        if kept:
            host.record_event(
                "backup", inst.id, f"restored {archive.name} (safety copy {kept.name})",
                file=str(archive), safety=str(kept),
            )  # fmt: skip
    return {
        "instance_id": inst.id, "restored": str(archive),
        "safety_backup": str(kept) if kept else None, "paths": archives.tops(members),
        "restarted": running,
    }  # fmt: skip


@contextmanager
def _stopped(host: Host, inst: Instance, force: bool) -> Iterator[bool]:
    """The game stopped for the restore (only with force: it would overwrite the world
    under a running game) and started again after; yields whether it ran."""
    loaded = host.systemd.states(inst.unit).get(inst.unit)
    running = bool(loaded and loaded.active in ("active", "activating", "reloading"))
    if running and not force:
        raise Conflict(
            f"{inst.id} is running: restoring would overwrite the world under it",
            hint="stop it first, or pass --force to stop it and start it again after",
        )
    if running:
        stop(host, inst)
    yield running
    if running:
        start(host, inst)


def do_restore(host: Host, args: Args) -> Outcome:
    if not args.archive:
        raise InvalidInput("restore needs a backup: its name or path", hint="manage.py backup")
    inst = one(host, args)
    result = restore(host, inst, args.archive, force=args.force)
    return Outcome(result, (f"{inst.id}: restored {result['restored']}",))
