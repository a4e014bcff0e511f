"""Updates: install the new build beside the old one, move the instance, roll back if the
new build does not become ready."""

from __future__ import annotations

from dataclasses import dataclass

from . import fsutil, units
from .actions import START_TIMEOUT, install_path, start
from .apps import App, find_app
from .errors import WarlockError
from .host import Host
from .model import Instance


@dataclass(frozen=True)
class UpdateResult:
    instance_id: str
    old_build: str
    new_build: str
    updated: bool  # False: already up to date, or rolled back
    rolled_back: bool = False
    reason: str = ""
    pruned: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return self.__dict__ | {"pruned": list(self.pruned)}


def check_update(host: Host, inst: Instance) -> str | None:
    """The newer build available for the instance, or None."""
    app = find_app(host.paths, inst.app)
    if app.install.source == "bundled":
        return None
    if app.install.source == "archive":  # the manifest pins the archive: new sha, new build
        pinned = (app.install.sha256 or "")[:12]
        return pinned if pinned and pinned != inst.build else None
    from . import install

    newest: str | None = install.check_update(app.install, host.paths.state / "apps", app.guid)
    if newest is None:  # the host's build is the newest; this instance may still lag
        current = install.installed(app.install, host.paths.state / "apps", app.guid)
        newest = current.build_id if current else None
    return newest if newest and newest != inst.build else None


def _move(host: Host, inst: Instance, app: App, build: str) -> Instance:
    """Point the instance at another build: record and drop-in, one reload."""
    moved = inst.with_(build=build)
    dropin = units.render_dropin(moved, app, host.paths, install_path(host, app, build))
    with host.registry.lock():
        units.write_dropin(host.paths, moved, dropin)
        host.registry.save(moved)
        host.systemd.reload()
    return moved


def update(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> UpdateResult:
    from . import install
    from .actions import ensure_installed

    app = find_app(host.paths, inst.app)
    if app.install.source == "bundled":
        return UpdateResult(inst.id, inst.build, inst.build, False, reason="bundled with warlockd")
    apps_dir = host.paths.state / "apps"
    with fsutil.locked(apps_dir / f".{app.guid}.lock"):
        build = install.install(app.install, apps_dir, app.guid, _log)
    if build.build_id == inst.build:
        ensure_installed(host, app)
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
        with fsutil.locked(apps_dir / f".{app.guid}.lock"):  # new creates use the good build
            install.mark_current(apps_dir, app.guid, old)
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
    from . import install

    with host.registry.lock():
        keep = {i.build for i in host.registry.all() if i.app == app.guid}
        apps_dir = host.paths.state / "apps"
        with fsutil.locked(apps_dir / f".{app.guid}.lock"):
            return [p.name for p in install.prune(apps_dir, app.guid, keep)]


def _log(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
