"""delete: stop and disable an instance, remove its drop-in, registration and record;
with purge, also its data and its user."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import units
from ..errors import NeedsConfirmation
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one
from .start_stop import START_TIMEOUT


def delete(host: Host, inst: Instance, purge: bool) -> list[str]:
    """Stop, disable, unregister; with purge, also the data and the user. Returns what went."""
    from .schedule import remove_all

    removed: list[str] = []
    with host.registry.lock():
        remove_all(host, inst)  # its timers go with it
        host.systemd.stop(inst.unit, START_TIMEOUT)
        host.systemd.disable([inst.unit])
        units.remove_dropin(host.paths, inst)
        removed.append(str(host.paths.dropin_dir(inst.unit) / units.DROPIN))
        host.systemd.reload()
        host.systemd.reset_failed(inst.unit)
        host.registry.remove(inst)
        removed += [str(host.registry.app_path(inst)), str(host.registry.record_path(inst))]
        if purge:
            if Path(inst.path).is_dir():
                shutil.rmtree(inst.path)
                removed.append(inst.path)
            if host.accounts.remove(inst.user):
                removed.append(f"user {inst.user}")
    return removed


def do_delete(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    if not args.yes:
        what = "and ALL its data " if args.purge else ""
        raise NeedsConfirmation(
            f"refusing to delete {inst.id} without --yes",
            f"Delete instance {inst.id} ({inst.name}) {what}? [y/N] ",
        )
    return Outcome(notes=tuple(f"removed {item}" for item in delete(host, inst, args.purge)))
