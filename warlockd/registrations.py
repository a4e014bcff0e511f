"""What Warlock panels discover: the `.app` files in /var/lib/warlock, each holding a
directory (no trailing newline) whose manage.py the panel runs as root.

Two layouts, chosen in warlockd.toml ([panel] registration):
- "instance" (seed 002, the default): `<guid>.<id>.app` per instance, `<guid>.app` for the
  instance `default`, naming the instance's directory;
- "game" (what the current upstream panel understands): one `<guid>.app` per game,
  naming `<state>/games/<guid>/`, whose manage.py lists that game's instances as services.

A `.app` file is warlockd's when it names one of its directories (an instance's, or a
game's under games/); any other is someone else's (a Warlock installer's) and is never
overwritten or removed: a change that would is refused, naming the file. Writes are
atomic; callers hold the registry lock.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from . import fsutil, layout
from .errors import Conflict
from .model import DEFAULT_ID, Instance
from .paths import Paths


def mode(paths: Paths) -> str:
    from .config import load

    return load(paths.config_file).registration


def game_dir(paths: Paths, guid: str) -> Path:
    return paths.state / "games" / guid


def wanted(paths: Paths, instances: Iterable[Instance], how: str) -> dict[Path, str]:
    """Every `.app` file the layout `how` has for these instances, with its content."""
    out: dict[Path, str] = {}
    for inst in instances:
        if how == "game":
            out[paths.state / f"{inst.app}.app"] = str(game_dir(paths, inst.app))
        else:
            stem = inst.app if inst.id == DEFAULT_ID else f"{inst.app}.{inst.id}"
            out[paths.state / f"{stem}.app"] = inst.path
    return out


def _ours(paths: Paths, path: Path, instances: Iterable[Instance]) -> bool:
    """Whether an existing `.app` file is warlockd's: it names one of its directories."""
    try:
        named = path.read_text()
    except FileNotFoundError:
        return True  # nothing there: nothing to spare
    except (OSError, UnicodeDecodeError):
        return False
    ours = {i.path for i in instances} | {str(game_dir(paths, i.app)) for i in instances}
    return named in ours or Path(named).parent == paths.state / "games"


def check(paths: Paths, inst: Instance, instances: Iterable[Instance]) -> None:
    """Refuse (before anything is made) an instance whose registration would overwrite a
    `.app` file warlockd did not write."""
    known = [*instances, inst]
    for path in wanted(paths, [inst], mode(paths)):
        if path.exists() and not _ours(paths, path, known):
            raise Conflict(
                f"{path} belongs to something else (it names {_named(path)}); warlockd does "
                "not overwrite it",
                hint="give the instance an id (not default), or move that installation",
            )


def _named(path: Path) -> str:
    try:
        return repr(path.read_text()[:200])
    except (OSError, UnicodeDecodeError):
        return "something unreadable"


def sync(paths: Paths, instances: list[Instance], how: str | None = None) -> list[str]:
    """Make the `.app` files (and the games' manage.py) those of the layout `how` (by
    default the configured one): write what is missing or differs, remove warlockd's
    that are not wanted. Someone else's files are left alone, each with a line saying so.
    Returns what was done, one line each."""
    how = how or mode(paths)
    want = wanted(paths, instances, how)
    done: list[str] = []
    for path, text in sorted(want.items()):
        if not _ours(paths, path, instances):
            done.append(f"warning: left {path} alone: it belongs to something else")
            continue
        if how == "game":
            guid = path.name.removesuffix(".app")
            game = game_dir(paths, guid)
            game.mkdir(parents=True, exist_ok=True, mode=0o755)
            if layout.write_shim(game, layout.shim_text(app=guid)):
                done.append(f"wrote {game / layout.SHIM}")
        if _text(path) != text:
            fsutil.atomic_write(path, text, 0o644)
            done.append(f"registered {path}")
    for path in sorted(paths.state.glob("*.app")):
        if path not in want and _ours(paths, path, instances):
            fsutil.remove(path)
            done.append(f"removed {path}")
    games = paths.state / "games"
    for game in sorted(games.iterdir()) if games.is_dir() else []:
        if paths.state / f"{game.name}.app" not in want:
            shutil.rmtree(game, ignore_errors=True)  # root's: its manage.py only
    if games.is_dir() and not any(games.iterdir()):
        games.rmdir()
    return done


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
