"""Unreal struct values: the fields of one `Key=(Name=Value,...)` ini line (pure).

Palworld keeps every setting in one line of PalWorldSettings.ini:
  OptionSettings=(Difficulty=None,ExpRate=1.000000,ServerName="Default Palworld Server",
                  bIsPvP=False,CrossplayPlatforms=(Steam,Xbox,PS5,Mac),...)
Strings are quoted, bools are True/False, enums are bare words, arrays are in parentheses.
Fields are found at the top level only (commas inside quotes or parentheses do not split),
and a field's text is replaced in place, so every other field stays byte for byte.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import InvalidInput
from .spec import Setting
from .values import Value, bool_words, decode, encode

_BARE_RE = re.compile(r"[A-Za-z0-9_.+-]*")


class _Field(NamedTuple):
    name: str
    start: int  # where "Name=" starts
    value: int  # where the value starts
    end: int  # the "," or ")" after it


def _fields(struct: str) -> list[_Field]:
    """The top-level fields of `struct`, which must be "(...)"."""
    if not (struct.startswith("(") and struct.endswith(")")):
        return []
    out: list[_Field] = []
    depth, quoted, escaped, start = 0, False, False, 1
    for i in range(1, len(struct)):
        c = struct[i]
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = c == "\\", c != '"'
        elif c == '"':
            quoted = True
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif (c == "," and not depth) or i == len(struct) - 1:
            name, eq, _ = struct[start:i].partition("=")
            if eq:
                out.append(_Field(name.strip(), start, start + len(name) + 1, i))
            start = i + 1
    return out


def get(struct: str, field: str) -> str | None:
    """The raw text of a field (the last one of that name: Unreal reads them in order)."""
    found = [f for f in _fields(struct) if f.name.lower() == field.lower()]
    return struct[found[-1].value : found[-1].end].strip() if found else None


def put(struct: str, field: str, raw: str | None) -> str:
    """`struct` with the field's value replaced (every copy), added, or removed (None)."""
    if not (struct.startswith("(") and struct.endswith(")")):
        struct = "()"  # not a struct at all: Unreal would ignore it, start over
    found = [f for f in _fields(struct) if f.name.lower() == field.lower()]
    if not found:
        if raw is None:
            return struct
        return f"({field}={raw})" if struct == "()" else f"{struct[:-1]},{field}={raw})"
    for f in reversed(found):
        if raw is not None:
            struct = struct[: f.value] + raw + struct[f.end :]
        elif struct[f.end] == ",":  # drop "Name=Value," ...
            struct = struct[: f.start] + struct[f.end + 1 :]
        else:  # ... or, for the last field, ",Name=Value"
            struct = struct[: max(1, f.start - 1)] + struct[f.end :]
    return struct


def unquote(raw: str) -> str:
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw


def read_field(struct: str, s: Setting) -> Value | None:
    raw = get(struct, s.key)
    if raw is None:
        return None
    if s.type == "list":
        return decode(s, raw[1:-1] if raw.startswith("(") and raw.endswith(")") else raw)
    return decode(s, unquote(raw))


def render_field(s: Setting, value: Value, old: str | None) -> str:
    """A field's text: quoted if it was (or, when new, if it is free text), else a bare word
    that must not hold characters that would end the field."""
    if isinstance(value, list):
        words = value
        text = "(" + ",".join(value) + ")"
    else:
        bools = bool_words(unquote(old) if old else None, ("True", "False"))
        text = encode(s, value, bools=bools, fixed_floats=True)
        if old.startswith('"') if old is not None else s.type in ("str", "text") and not s.options:
            return f'"{text}"'
        words = [text]
    bad = [w for w in words if not _BARE_RE.fullmatch(w)]
    if bad:
        raise InvalidInput(
            f"{s.option}: {bad[0]!r} must be one word here",
            hint="letters, digits and _ . + - (the game stores this field unquoted)",
        )
    return text
