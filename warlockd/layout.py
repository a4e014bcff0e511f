"""The instance directory: a root-owned top, which the panels' registration names, holding
manage.py and the archives, and data/, which the game's user owns.

    <path>/            root 0755   what /var/lib/warlock/<guid>.<id>.app names
    <path>/manage.py   root 0755   acts on this instance (Warlock panels run it as root)
    <path>/backups/    root 0700   backups, what the panels list and restore
    <path>/packs/      root 0700   packs for another host (not offered to restore)
    <path>/data/       game 0750   the game's working directory: config, saves, logs

Root runs manage.py and reads the game's config files, so nothing root executes or reads
as code may be writable by the game's user: that user owns data/ and nothing above it.
Instances made by earlier versions (layout 1: everything in <path>, owned by the game's
user) move into this layout (2) while their game is stopped: `setup` moves stopped ones,
and a running one moves when it next starts (its unit runs `python3 -m warlockd.layout
<id>` as root first; the game keeps running meanwhile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import fsutil
from .model import Instance, InstanceId
from .paths import PACKAGE_ROOT

LAYOUT = 2
DATA = "data"
BACKUPS = "backups"
PACKS = "packs"
SHIM = "manage.py"
MOVING = ".data-moving"  # data/ while a layout-1 instance's files move in
MARKER = ".layout"  # written once they all have: the move is then only to finish


def top(inst: Instance) -> Path:
    return Path(inst.path)


def data_dir(inst: Instance) -> Path:
    """Where the game's files are now: data/, or the top itself in layout 1."""
    return top(inst) / DATA if inst.layout >= LAYOUT else top(inst)


def backups_dir(inst: Instance) -> Path:
    return top(inst) / BACKUPS


def packs_dir(inst: Instance) -> Path:
    return top(inst) / PACKS


def shim_text(instance: InstanceId | None = None, app: str | None = None) -> str:
    """manage.py for one instance, or (`app`) for every instance of one game."""
    what = f"instance {instance}" if instance else f"every instance of app {app}"
    call = f"instance={instance!r}" if instance else f"app={app!r}"
    return (
        "#!/usr/bin/python3\n"
        f'"""manage.py of warlockd for {what}: Warlock panels run it as root.\n\n'
        "Written by warlockd (rewritten by `warlock setup`); `manage.py --help` lists the\n"
        'commands, which act on this without --instance."""\n\n'
        "import sys\n\n"
        f"sys.path.insert(0, {str(PACKAGE_ROOT)!r})  # warlockd from a checkout\n\n"
        "from warlockd.cli.entry import run_for  # noqa: E402\n\n"
        f"run_for({call})\n"
    )


def write_shim(directory: Path, text: str) -> bool:
    """Write directory/manage.py (root's, 0755) unless it holds `text`; whether it did."""
    path = directory / SHIM
    try:
        if path.read_text() == text and path.stat().st_uid == os.geteuid():
            return False
    except OSError:
        pass
    fsutil.atomic_write(path, text, 0o755)
    return True


def make(inst: Instance, uid: int, gid: int) -> None:
    """The directories of a new instance; the top may exist (an empty --dir)."""
    root = top(inst)
    root.mkdir(parents=True, exist_ok=True)
    _own(root, 0o755)
    data = root / DATA
    data.mkdir(exist_ok=True)
    os.chown(data, uid, gid)
    data.chmod(0o750)
    backups = root / BACKUPS
    backups.mkdir(mode=0o700, exist_ok=True)
    _own(backups, 0o700)
    write_shim(root, shim_text(instance=inst.id))


def _own(path: Path, mode: int) -> None:
    os.chown(path, os.geteuid(), os.getegid(), follow_symlinks=False)
    path.chmod(mode)


def migrate(inst: Instance) -> Instance:
    """Move a layout-1 instance into layout 2; its game must be stopped. Safe to repeat
    after a crash at any point: the game's entries go into data/ under a temporary name,
    and a marker written before that name becomes data/ says they all went (a game may
    have an entry called data itself). Returns the record to save."""
    if inst.layout >= LAYOUT:
        return inst
    root = top(inst)
    marker, moving = root / MARKER, root / MOVING
    if not marker.exists():
        st = os.stat(root, follow_symlinks=False)
        # the top becomes root's first: the game's user can no longer add or swap entries
        _own(root, 0o755)
        if moving.is_symlink() or (moving.exists() and not moving.is_dir()):
            moving.unlink()
        if not moving.exists():
            moving.mkdir(mode=0o750)
            os.chown(moving, st.st_uid, st.st_gid)  # layout 1: the game's user owned the top
        for name in sorted(os.listdir(root)):
            entry = root / name
            ours = name in (BACKUPS, PACKS, SHIM, MOVING) and not entry.is_symlink()
            if not ours:
                os.rename(entry, moving / name)  # a link moves as a link: nothing followed
        fsutil.atomic_write(marker, f"{LAYOUT}\n", 0o644)
    if moving.is_dir():
        os.rename(moving, root / DATA)
    backups = root / BACKUPS
    backups.mkdir(mode=0o700, exist_ok=True)
    _own(backups, 0o700)
    packs = sorted(backups.glob(f"{inst.id}-pack-*.tar.gz"))  # layout 1 kept them there
    if packs:
        (root / PACKS).mkdir(mode=0o700, exist_ok=True)
        for pack in packs:
            os.rename(pack, root / PACKS / pack.name)
    fsutil.fsync_dir(root)
    write_shim(root, shim_text(instance=inst.id))
    return inst.with_(layout=LAYOUT)


def main(argv: list[str]) -> int:
    """`python3 -m warlockd.layout ID`: move a layout-1 instance before its game starts
    (its unit's ExecStartPre=+); nothing to do for one in layout 2."""
    from .errors import WarlockError
    from .host import Host
    from .model import parse_id

    try:
        host = Host.from_env()
        with host.registry.lock():
            inst = host.registry.get(parse_id(argv[0]))
            moved = migrate(inst)
            if moved is not inst:
                host.registry.save(moved)
                sys.stderr.write(f"moved {inst.id} to the layout with {SHIM} in {inst.path}\n")
    except (WarlockError, OSError, IndexError) as e:
        sys.stderr.write(f"error: cannot move the instance's files: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
