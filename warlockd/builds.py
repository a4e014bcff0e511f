"""Which build of an app's server files an instance runs from, installing it on first use.

Ten instances of a game share one read-only copy per build: Debian packages in /usr,
SteamCMD and archive builds under `<state>/apps/<guid>/<build>/`, bundled apps where
warlockd keeps them. sources/ knows how to obtain a build; this module knows where an
instance's is and takes the per-app lock that serialises installs of one game.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import fsutil
from .apps import App
from .paths import Paths
from .sources import Build


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def install_path(paths: Paths, app: App, build_id: str) -> Path:
    """Where an instance's server files are, from its app and recorded build."""
    if app.install.source == "bundled":
        return app.asset_path
    if app.install.source == "apt":
        return Path("/")
    return paths.apps / app.guid / build_id


PACK_PREFIX = "pack-"  # a build import-pack made from a server pack (sources/pack.py)


def is_pack_build(build_id: str) -> bool:
    """Made from a server pack: no source makes it again, update cannot replace it."""
    return build_id.startswith(PACK_PREFIX)


def app_lock(paths: Paths, app: App) -> Path:
    """The lock that serialises installing, updating and pruning builds of one app."""
    return paths.apps / f".{app.guid}.lock"


def ensure_installed(paths: Paths, app: App) -> Build:
    """The app's current build, installing it first if this host has none (once per app)."""
    if app.install.source == "bundled":
        return Build(app.asset_path, "bundled")
    from . import sources

    if app.install.source == "apt":  # files go to /usr; dpkg has its own lock
        return sources.installed(app.install, paths.apps, app.guid) or sources.install(
            app.install, paths.apps, app.guid, log
        )
    paths.apps.mkdir(parents=True, exist_ok=True, mode=0o755)
    with fsutil.locked(app_lock(paths, app)):
        found = sources.installed(app.install, paths.apps, app.guid)
        if found:
            return found
        return sources.install(app.install, paths.apps, app.guid, log)
