"""ini format: read and set one key of one section, every other line left as it was (pure).

Written by hand: Debian's iniparse reads " ; ..." inside a value as a comment and writes new
keys as "key = value"; configobj rejects ";" comments and the repeated "+Key=" lines of Unreal
files. The rules here are Unreal's (ARK, Palworld): `[Section]` headers, `;` or `#` comment
lines, `Key=Value` with no inline comments, names matched without regard to case, the last
of repeated keys wins. With `struct` set, `key` is a field of the `struct=(...)` line
(see unreal.py).
"""

from __future__ import annotations

import re

from . import lines, unreal
from .spec import Setting
from .values import Value, bool_words, decode, encode

_HEADER_RE = re.compile(r"\s*\[(.*)\]\s*")


class _Key:
    """One `Key=Value` line: where it is, its section, its name and raw value."""

    def __init__(self, index: int, section: str | None, line: str) -> None:
        text = lines.content(line)
        name, _, value = text.partition("=")
        self.index, self.section = index, section
        self.name, self.raw = name.strip(), value.strip()
        # what stays when the value changes: "Key=" or "Key = " as the file spells it
        self.prefix = text[: len(name) + 1] + value[: len(value) - len(value.lstrip())]


def _parse(all_lines: list[str]) -> tuple[list[_Key], dict[str, int]]:
    """The key lines, and the index of each section's header (lowercase name)."""
    keys: list[_Key] = []
    headers: dict[str, int] = {}
    section: str | None = None
    for i, line in enumerate(all_lines):
        text = lines.content(line)
        header = _HEADER_RE.fullmatch(text)
        if header:
            section = header.group(1).strip()
            headers.setdefault(section.lower(), i)
        elif "=" in text and not text.lstrip().startswith((";", "#")):
            keys.append(_Key(i, section, line))
    return keys, headers


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def _raw(text: str, section: str | None, key: str) -> str | None:
    found = [k for k in _parse(lines.split(text))[0] if _same(k.section, section)]
    found = [k for k in found if k.name.lower() == key.lower()]
    return found[-1].raw if found else None


def read(text: str, s: Setting) -> Value | None:
    raw = _raw(text, s.section, s.struct or s.key)
    if raw is None:
        return None
    if s.struct:
        return unreal.read_field(raw, s)
    return decode(s, unreal.unquote(raw))


def write(text: str, s: Setting, value: Value | None) -> str:
    """`text` with the option set to `value`, or its key removed for None."""
    old = _raw(text, s.section, s.struct or s.key)
    if s.struct:
        old_field = unreal.get(old or "()", s.key)
        field = None if value is None else unreal.render_field(s, value, old_field)
        if old is None and field is None:
            return text
        return _set(text, s.section, s.struct, unreal.put(old or "()", s.key, field))
    if value is None:
        return _set(text, s.section, s.key, None)
    bools = bool_words(old, ("True", "False"))  # Unreal's spelling unless the file has its own
    return _set(text, s.section, s.key, encode(s, value, bools=bools, fixed_floats=True))


def _set(text: str, section: str | None, key: str, raw: str | None) -> str:
    all_lines = lines.split(text)
    nl = lines.ending(text)
    keys, headers = _parse(all_lines)
    mine = [k for k in keys if _same(k.section, section) and k.name.lower() == key.lower()]
    for k in reversed(mine):
        if raw is None:
            del all_lines[k.index]
        else:
            ending = all_lines[k.index][len(lines.content(all_lines[k.index])) :]
            all_lines[k.index] = k.prefix + raw + ending
    if mine or raw is None:
        return "".join(all_lines)
    spaced = bool(keys) and keys[0].prefix.rstrip().endswith(" =")
    new = [f"{key}{' = ' if spaced else '='}{raw}{nl}"]
    if section is None:  # before the first section, where keys without one live
        at = min(headers.values(), default=len(all_lines))
        return "".join(lines.insert_at(all_lines, at, new, nl))
    start = headers.get(section.lower())
    if start is None:
        blank = [nl] if all_lines and lines.content(all_lines[-1]).strip() else []
        return "".join(lines.append(all_lines, [*blank, f"[{section}]{nl}", *new], nl))
    after = [i for i in headers.values() if i > start]
    return "".join(lines.insert_at(all_lines, min(after, default=len(all_lines)), new, nl))
