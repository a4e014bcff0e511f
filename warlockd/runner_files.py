"""The runner's [[files]] step: what a manifest says the game must find in its directory
before it starts (a console's password, a console mod), put there by the runner as the
game's user at every start (units.file_options writes the options). Imported only by the
runners of games that have such files: the runner lives as long as its game.

    --file PATH=VAR        the text in $VAR (units.escape_text) to PATH, mode 0600, removed
                           again once the game is ready (it has read it) or has exited
    --file-keep PATH=VAR   the same, left in place
    --link PATH=TARGET     a symbolic link to TARGET at PATH
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

Options = Sequence[tuple[str, str]]  # (flag, PATH=VALUE), as the runner's argv gave them


def unescape_text(value: str) -> str:
    """A file's text from its variable (units.escape_text wrote \\\\, \\n and \\t)."""
    out: list[str] = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            n = next(chars, "")
            out.append({"n": "\n", "t": "\t"}.get(n, n))
        else:
            out.append(c)
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


def split(flag: str, value: str) -> tuple[str, str]:
    """PATH and what goes there; ValueError unless PATH stays in the working directory."""
    path, sep, what = value.partition("=")
    if not sep or not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{flag} {value!r}: expected a relative PATH=...")
    return path, what


def _replace(path: str, make: Callable[[str], None]) -> None:
    """Make the new one beside `path`, then rename it over: the game (and a start after a
    crash) finds the old one or the new one, never half a file."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.warlock-tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a runner that was killed
    make(tmp)
    os.replace(tmp, path)


def _write(text: str) -> Callable[[str], None]:
    def make(tmp: str) -> None:
        # 0600: the text may hold a secret that only the game's user may read
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "w") as f:
            f.write(text)

    return make


def _link(target: str) -> Callable[[str], None]:
    return lambda tmp: os.symlink(target, tmp)


def put(options: Options, log: Callable[[str], None]) -> bool:
    """Every file and link in place; False (said in the log) when one cannot be, and then
    none of the files is left behind. A real file or directory where a link goes is left
    alone: an admin put it there instead."""
    try:
        for flag, value in options:
            path, what = split(flag, value)
            if flag == "--link":
                if os.path.lexists(path) and not os.path.islink(path):
                    log(f"{path} is not a symbolic link: left as it is (not linked to {what})")
                    continue
                if not os.path.exists(what):  # made all the same: it may appear later
                    log(f"{path}: its target {what} does not exist")
                _replace(path, _link(what))
            else:
                _replace(path, _write(unescape_text(os.environ.get(what, ""))))
    except ValueError as e:
        log(str(e))
    except OSError as e:
        log(f"cannot put {e.filename} in place: {e.strerror}")
    else:
        return True
    remove(options)
    return False


def remove(options: Options) -> None:
    """The --file files, once the game has read them (it is ready) or has exited; --file-keep
    files and links stay."""
    for flag, value in options:
        if flag == "--file":
            with contextlib.suppress(ValueError, FileNotFoundError):
                os.unlink(split(flag, value)[0])
