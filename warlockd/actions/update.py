"""check-update and update: install the new build beside the old one, move the instance
to it, roll back if the new build does not become ready."""

from __future__ import annotations

from typing import NamedTuple

from .. import fsutil, sources, units
from ..apps import App, find_app
from ..builds import app_lock, ensure_installed, install_path, log
from ..errors import WarlockError
from ..host import Host
from ..model import Instance
from . import Args, Outcome, one
from .start_stop import START_TIMEOUT, start


class UpdateResult(NamedTuple):
    instance_id: str
    old_build: str
    new_build: str
    updated: bool  # False: already up to date, or rolled back
    rolled_back: bool = False
    reason: str = ""
    pruned: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return self._asdict() | {"pruned": list(self.pruned)}


def check_update(host: Host, inst: Instance) -> str | None:
    """The newer build available for the instance, or None."""
    app = find_app(host.paths, inst.app)
    if app.install.source == "bundled":
        return None
    if app.install.source == "archive":  # the manifest pins the archive: new sha, new build
        pinned = (app.install.sha256 or "")[:12]
        return pinned if pinned and pinned != inst.build else None
    newest: str | None = sources.check_update(app.install, host.paths.apps, app.guid)
    if newest is None:  # the host's build is the newest; this instance may still lag
        current = sources.installed(app.install, host.paths.apps, app.guid)
        newest = current.build_id if current else None
    return newest if newest and newest != inst.build else None


def _move(host: Host, inst: Instance, app: App, build: str) -> Instance:
    """Point the instance at another build: record and drop-in, one reload."""
    moved = inst.with_(build=build)
    dropin = units.render_dropin(moved, app, host.paths, install_path(host.paths, app, build))
    with host.registry.lock():
        units.write_dropin(host.paths, moved, dropin)
        host.registry.save(moved)
        host.systemd.reload()
    return moved


def update(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> UpdateResult:
    app = find_app(host.paths, inst.app)
    if app.install.source == "bundled":
        return UpdateResult(inst.id, inst.build, inst.build, False, reason="bundled with warlockd")
    apps_dir = host.paths.apps
    with fsutil.locked(app_lock(host.paths, app)):
        build = sources.install(app.install, apps_dir, app.guid, log,
                                host.report(f"update of {app.slug}"))  # fmt: skip
    if build.build_id == inst.build:
        ensure_installed(host.paths, app)
        return UpdateResult(inst.id, inst.build, inst.build, False, reason="already up to date")
    state = host.systemd.state(inst.unit)
    was_running = state.active in ("active", "activating", "reloading")
    if was_running:
        host.systemd.stop(inst.unit, timeout)
    old = inst.build
    moved = _move(host, inst, app, build.build_id)
    try:
        start(host, moved, timeout)
    except WarlockError as e:
        if app.install.source == "apt":  # Debian replaced the files in place: nothing to go back to
            raise WarlockError(
                f"updated {app.slug} packages, but {inst.id} does not start: {e.message}"
            ) from None
        _move(host, moved, app, old)
        with fsutil.locked(app_lock(host.paths, app)):  # new creates use the good build
            sources.mark_current(apps_dir, app.guid, old)
        if was_running:
            start(host, inst, timeout)
        return UpdateResult(inst.id, old, build.build_id, False, rolled_back=True, reason=e.message)
    if not was_running:
        host.systemd.stop(inst.unit, timeout)
    return UpdateResult(inst.id, old, build.build_id, True, pruned=tuple(prune(host, app)))


def prune(host: Host, app: App) -> list[str]:
    """Remove the builds of `app` that no instance uses (the newest always stays)."""
    if app.install.source in ("bundled", "apt"):
        return []
    with host.registry.lock():
        keep = {i.build for i in host.registry.all() if i.app == app.guid}
        with fsutil.locked(app_lock(host.paths, app)):
            return [p.name for p in sources.prune(host.paths.apps, app.guid, keep)]


def do_check_update(host: Host, args: Args) -> Outcome:
    """Exit 0 when an update exists (what Warlock's panels expect), 1 when not."""
    inst = one(host, args)
    newest = check_update(host, inst)
    note = f"{inst.id}: build {inst.build or '-'}" + (
        f", update {newest} available" if newest else ", up to date"
    )
    return Outcome({"instance_id": inst.id, "update": newest}, (note,), 0 if newest else 1)


def do_update(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    result = update(host, inst)
    if result.rolled_back or result.updated:
        what = (
            f"build {result.new_build} failed ({result.reason}); back on {result.old_build}"
            if result.rolled_back
            else f"updated from build {result.old_build} to {result.new_build}"
        )
        host.record_event(
            "update", inst.id, what, old_build=result.old_build, new_build=result.new_build,
            rolled_back=result.rolled_back,
        )  # fmt: skip
    if result.rolled_back:
        note = (
            f"error: update of {inst.id} to build {result.new_build} failed ({result.reason}); "
            f"rolled back to build {result.old_build}, which runs again"
        )
        return Outcome(result.to_dict(), (note,), 1)
    done = f"now on build {result.new_build}" if result.updated else result.reason
    return Outcome(result.to_dict(), (f"{inst.id}: {done}",))
