"""Install sources: where an app's server files come from, one shared copy per build.

Debian packages live in /usr (`apt`); SteamCMD and archive builds live under
`<apps_dir>/<guid>/<build>/`, read-only for the instances that use them. A build is
made in a `.staging-*` directory beside them and renamed into place only when it is
complete, so a failure or a kill leaves no half build under a build's name. The build
that `install()` made last is named in `<apps_dir>/<guid>/.current`.

Callers serialise calls for one guid (warlockd.builds holds a per-app lock); nothing
here locks. The submodules are imported when a source is used: the runner imports this
package for the dataclasses only.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

from ..errors import InvalidInput
from ..fsutil import atomic_write, fsync_dir

Log = Callable[[str], None]
Progress = Callable[[int, int | None], None]  # (bytes done, bytes in all if known)

_BUILD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_GUID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
FILENAME_RE = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}")  # install.filename: no / or ..
CURRENT = ".current"


class InstallSpec(NamedTuple):
    """The `[install]` table of a manifest."""

    source: str  # "bundled" | "apt" | "steamcmd" | "archive"
    packages: tuple[str, ...] = ()  # apt
    app_id: int | None = None  # steamcmd
    branch: str = "public"  # steamcmd beta branch
    login: str = "anonymous"  # steamcmd
    platform: str | None = None  # steamcmd +@sSteamCmdForcePlatformType
    url: str | None = None  # archive
    sha256: str | None = None  # archive
    strip_components: int = 0  # archive
    filename: str | None = None  # archive: keep the file as <build>/<filename>, not unpacked


class Build(NamedTuple):
    path: Path  # where the server files are (read-only for instances)
    build_id: str  # apt: "pkg=version,..."; steamcmd: Steam's buildid; archive: sha256[:12]


class Source(Protocol):
    """What each of apt.py, steamcmd.py and archive.py provides."""

    def install(
        self, spec: InstallSpec, apps_dir: Path, guid: str, log: Log,
        progress: Progress | None = None,
    ) -> Build: ...  # fmt: skip
    def installed(self, spec: InstallSpec, apps_dir: Path, guid: str) -> Build | None: ...
    def check_update(self, spec: InstallSpec, apps_dir: Path, guid: str) -> str | None: ...


def install(
    spec: InstallSpec, apps_dir: Path, guid: str, log: Log, progress: Progress | None = None
) -> Build:
    """Fetch the newest build the spec allows and make it current; return it. `progress`
    sees the download (SteamCMD's and an archive's; apt shows none)."""
    return _source(spec).install(spec, apps_dir, guid, log, progress)


def installed(spec: InstallSpec, apps_dir: Path, guid: str) -> Build | None:
    """The current build if this host has one, without touching the network."""
    return _source(spec).installed(spec, apps_dir, guid)


def check_update(spec: InstallSpec, apps_dir: Path, guid: str) -> str | None:
    """The build id `install()` would now produce, if it differs from the installed one."""
    if spec.source == "bundled":
        return None
    return _source(spec).check_update(spec, apps_dir, guid)


def _source(spec: InstallSpec) -> Source:
    if spec.source == "apt":
        from . import apt

        return apt
    if spec.source == "steamcmd":
        from . import steamcmd

        return steamcmd
    if spec.source == "archive":
        from . import archive

        return archive
    raise InvalidInput(
        f"install source {spec.source!r} has nothing to install",
        hint="bundled apps ship with warlockd; the others are apt, steamcmd and archive",
    )


# The layout under apps_dir, shared by the steamcmd and archive sources.


def app_dir(apps_dir: Path, guid: str) -> Path:
    if not _GUID_RE.fullmatch(guid):
        raise InvalidInput(f"app guid {guid!r} cannot name a directory")
    return apps_dir / guid


def build_dir(apps_dir: Path, guid: str, build_id: str) -> Path:
    if not _BUILD_RE.fullmatch(build_id):
        raise InvalidInput(f"build id {build_id!r} cannot name a directory")
    return app_dir(apps_dir, guid) / build_id


def current_build(apps_dir: Path, guid: str) -> str | None:
    """The build `install()` made last, if its directory is still there."""
    try:
        build_id = (app_dir(apps_dir, guid) / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    if not _BUILD_RE.fullmatch(build_id) or not build_dir(apps_dir, guid, build_id).is_dir():
        return None
    return build_id


@contextlib.contextmanager
def staging(apps_dir: Path, guid: str) -> Iterator[Path]:
    """A fresh `.staging-*` directory beside the builds, removed unless promoted."""
    import shutil
    import tempfile

    parent = app_dir(apps_dir, guid)
    parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def promote(staged: Path, apps_dir: Path, guid: str, build_id: str) -> Path:
    """Rename a complete staging directory to its build (or reuse an identical build)."""
    import shutil

    target = build_dir(apps_dir, guid, build_id)
    if target.is_dir():
        shutil.rmtree(staged)
    else:
        staged.chmod(0o755)  # mkdtemp made it 0700; instances read it as their own users
        os.rename(staged, target)
        fsync_dir(target.parent)
    mark_current(apps_dir, guid, build_id)
    return target


def mark_current(apps_dir: Path, guid: str, build_id: str) -> None:
    build_dir(apps_dir, guid, build_id)  # validates
    atomic_write(app_dir(apps_dir, guid) / CURRENT, build_id + "\n")


def prune(apps_dir: Path, guid: str, keep: set[str]) -> list[Path]:
    """Remove the builds of `guid` not in `keep`, never the current one nor the last one.

    Only build directories directly under `<apps_dir>/<guid>/` are candidates: dot entries
    (staging, SteamCMD's home, the current marker) and symlinks are never touched.
    """
    import shutil  # here, as in staging() and promote(): `start` loads this module

    parent = app_dir(apps_dir, guid)
    if not parent.is_dir():
        return []
    builds = sorted(
        p for p in parent.iterdir() if _BUILD_RE.fullmatch(p.name) and not p.is_symlink()
    )
    builds = [p for p in builds if p.is_dir()]
    spared = set(keep)
    current = current_build(apps_dir, guid)
    if current:
        spared.add(current)
    doomed = [p for p in builds if p.name not in spared]
    if builds and len(doomed) == len(builds):  # nothing would remain: keep the newest
        newest = max(builds, key=lambda p: p.stat().st_mtime)
        doomed.remove(newest)
    for p in doomed:
        shutil.rmtree(p)
    if doomed:
        fsync_dir(parent)
    return doomed
