"""backup: an archive of the instance's saves in its backups directory, keeping the
newest N if asked (archives.py writes it, read as the instance's user)."""

from __future__ import annotations

from typing import NamedTuple

from .. import archives, fsutil
from ..apps import find_app
from ..errors import InvalidInput
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one


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


def do_backup(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    result = backup(host, inst, args.max_backups)
    return Outcome(result.to_dict(), (f"{inst.id}: backed up to {result.file}",))
