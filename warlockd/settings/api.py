"""API: an instance's settings as get-configs shows them, and set-config's one change.

Values come from the game's own files (through files.py, never following a link) or, for
format cli, from the instance record's `cli_values`, which this module never writes: the
caller stores the Change's new cli_values. A change is checked completely (option name,
type, range, options, characters the format cannot hold) before anything is written, and
the read-modify-write of a file runs under a lock, so two set-configs at once keep both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .. import fsutil
from ..apps import App
from . import cfg, cli, files, ini, jsonfile, properties, values
from .spec import Setting, find, settings_of
from .values import Value

Reader = Callable[[str, Setting], Value | None]
Writer = Callable[[str, Setting, Value | None], str]
FORMATS: dict[str, tuple[Reader, Writer]] = {
    "ini": (ini.read, ini.write),
    "properties": (properties.read, properties.write),
    "json": (jsonfile.read, jsonfile.write),
    "cfg": (cfg.read, cfg.write),
}


class Change(NamedTuple):
    option: str
    old: Value | None  # None: it was not set (the default applied)
    new: Value | None  # None: it is not set any more
    file: str | None  # the file changed, relative to the instance directory; None for cli
    cli_values: dict[str, str] | None  # the record's new cli values; None for a file option
    changed: bool
    restart_needed: bool  # the games read these at start: a running one needs a restart

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def lock_path(lock_dir: Path, data_dir: Path) -> Path:
    """One lock per instance directory, in a directory only root can write (a lock file in
    the instance directory could be a link planted by the game's user)."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return lock_dir / f"settings-{digest}.lock"


def _entry(s: Setting, value: Value | None) -> dict[str, Any]:
    return {
        "option": s.option,
        "default": s.default,
        "value": s.default if value is None else value,
        "type": s.type,
        "help": s.help,
        "options": list(s.options),
        "group": s.group,
    }


def get_configs(app: App, data_dir: Path, cli_values: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every [[config]] option of the app in the panel's shape (contract, get-configs)."""
    texts: dict[str, str] = {}  # each file is read once
    out: list[dict[str, Any]] = []
    for s in settings_of(app):
        if s.format == "cli" or s.file is None:
            out.append(_entry(s, cli.read(cli_values, s)))
            continue
        if s.file not in texts:
            texts[s.file] = files.read(data_dir, s.file).text or ""
        out.append(_entry(s, FORMATS[s.format][0](texts[s.file], s)))
    return out


def set_config(
    app: App,
    data_dir: Path,
    cli_values: Mapping[str, str],
    option: str,
    text: str,
    *,
    lock_dir: Path,
) -> Change:
    """Set one option from its command-line text; nothing is written if it is refused."""
    s = find(settings_of(app), option)
    value = values.parse(s, text)
    if s.format == "cli" or s.file is None:
        old = cli.read(cli_values, s)
        return _change(s, old, value, None, cli.write(cli_values, s, value))
    read, write = FORMATS[s.format]
    with fsutil.locked(lock_path(lock_dir, data_dir)):
        loaded = files.read(data_dir, s.file)
        before = loaded.text or ""
        old = read(before, s)
        if not _differ(old, value):
            return _change(s, old, value, s.file, None)  # the file keeps its own spelling
        after = write(before, s, value)  # may still refuse (an Unreal bare word)
        if after != before:
            files.write(data_dir, s.file, after, loaded.encoding)
    return _change(s, old, value, s.file, None)


def _differ(old: Value | None, new: Value | None) -> bool:
    return old != new or type(old) is not type(new)  # True == 1, but not the same setting


def _change(
    s: Setting,
    old: Value | None,
    new: Value | None,
    file: str | None,
    cli_values: dict[str, str] | None,
) -> Change:
    changed = _differ(old, new)
    return Change(s.option, old, new, file, cli_values, changed, changed)
