"""restore: put a backup's saves back. Refused while the game runs unless forced (then
stopped, restored and started again); a safety archive of what is replaced comes first."""

from __future__ import annotations

import tarfile
from pathlib import Path

from .. import archives
from ..apps import find_app
from ..errors import Conflict, InvalidInput
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one
from .start_stop import start, stop


def restore(host: Host, inst: Instance, given: str, *, force: bool = False) -> dict[str, object]:
    return restore_file(host, inst, archives.resolve_archive(inst, given), force=force)


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
    loaded = host.systemd.states(inst.unit).get(inst.unit)
    running = bool(loaded and loaded.active in ("active", "activating", "reloading"))
    if running and not force:
        raise Conflict(
            f"{inst.id} is running: restoring would overwrite the world under it",
            hint="stop it first, or pass --force to stop it and start it again after",
        )
    if running:
        stop(host, inst)
    report = host.report(f"restore of {inst.id}")
    kept = archives.replace_saves(inst, app, archive, tar, members, safety, report)
    if kept:
        host.record_event(
            "backup", inst.id, f"restored {archive.name} (safety copy {kept.name})",
            file=str(archive), safety=str(kept),
        )  # fmt: skip
    if running:
        start(host, inst)
    return {
        "instance_id": inst.id, "restored": str(archive),
        "safety_backup": str(kept) if kept else None, "paths": archives.tops(members),
        "restarted": running,
    }  # fmt: skip


def do_restore(host: Host, args: Args) -> Outcome:
    if not args.archive:
        raise InvalidInput("restore needs a backup: its name or path", hint="manage.py backup")
    inst = one(host, args)
    result = restore(host, inst, args.archive, force=args.force)
    return Outcome(result, (f"{inst.id}: restored {result['restored']}",))
