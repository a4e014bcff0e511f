"""Values: check and convert what `set-config` is given, and the text a file holds (pure).

`parse` turns command-line text into a typed value or refuses it with one line: wrong type,
out of the manifest's min..max, not one of its options, or characters the option's file
format cannot hold safely (a quote or `;` that would end a cfg value and start a command,
a line break that would start a new key). `decode`/`encode` convert between typed values
and the text stored in a file or the instance record.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TypeAlias

from ..errors import InvalidInput
from .spec import Setting

Value: TypeAlias = bool | int | float | str | list[str]

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")
BOOL_FAMILIES = (("true", "false"), ("True", "False"), ("TRUE", "FALSE"), ("1", "0"),
                 ("yes", "no"), ("on", "off"))  # fmt: skip
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

# Characters each format (or style) cannot hold in a value, and why. A cfg value sits in
# double quotes: a quote would end it and `;` would start a second command. ini and plain
# properties values are taken as they stand up to the end of the line.
_FORBIDDEN: dict[str, tuple[str, str]] = {
    "ini": ('"', "Unreal strips quotes around an ini value"),
    "ini/struct": ('"\\', "the value sits in double quotes inside an Unreal struct"),
    "properties/java": ("", ""),
    "properties/plain": ("", ""),
    "json": ("", ""),
    "cfg": ('";\\', 'a cfg value sits in double quotes and ";" starts another command'),
    "cli": ("\"';?\\", "the game parses its command line itself"),
    "port": ("", ""),  # a number, checked as one
}
MULTILINE = ("properties/java", "json")  # the formats that escape a line break


def kind(s: Setting) -> str:
    """The key of _FORBIDDEN for an option: its format, refined by style or struct."""
    if s.format == "ini" and s.struct:
        return "ini/struct"
    if s.format == "properties":
        return f"properties/{s.style or 'java'}"
    return s.format


def list_separator(s: Setting) -> str:
    return " " if s.format == "cfg" else ","  # Teeworlds' sv_maprotation is space-separated


def _refuse(s: Setting, why: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"{s.option}: {why}", hint=hint)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def check_text(s: Setting, text: str) -> None:
    """Refuse characters that the option's format cannot hold safely."""
    if "\0" in text:
        raise _refuse(s, "the value contains a NUL character")
    k = kind(s)
    for c in text:
        if c == "\n" and s.type == "text" and k in MULTILINE:
            continue
        if c in "\r\n":
            raise _refuse(s, f"format {k} cannot hold a line break in a value")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            raise _refuse(s, f"the value contains the control character {c!r}")
    forbidden, why = _FORBIDDEN[k]
    bad = sorted({c for c in text if c in forbidden})
    if bad:
        raise _refuse(s, f"the value cannot contain {' '.join(bad)} ({why})")
    if k in ("ini", "ini/struct", "properties/plain") and text != text.strip():
        raise _refuse(s, f"format {k} drops spaces at the start and end of a value")
    if k == "properties/plain" and text.startswith(("{", '"""')):
        raise _refuse(s, 'a value cannot start with { or """ (they open a group or a block)')
    if k == "cli" and (any(c.isspace() for c in text) or text.startswith(("-", "+"))):
        raise _refuse(s, "a command-line value cannot hold spaces or start with - or +")


def parse(s: Setting, text: str) -> Value | None:
    """The typed value for command-line text; None (not set) for empty text when the option
    has no default, so the game decides."""
    if "\0" in text:
        raise _refuse(s, "the value contains a NUL character")
    if not text.strip() and s.default is None:
        return None
    value: Value
    if s.type == "bool":
        word = text.strip().lower()
        if word not in TRUE + FALSE:
            raise _refuse(
                s, f"expected true or false, got {_shown(text)}", "also yes/no, on/off, 1/0"
            )
        value = word in TRUE
    elif s.type == "int":
        if not _INT_RE.fullmatch(text.strip()):
            raise _refuse(s, f"expected a whole number, got {_shown(text)}")
        value = int(text.strip())
    elif s.type == "float":
        if not _FLOAT_RE.fullmatch(text.strip()):
            raise _refuse(s, f"expected a number, got {_shown(text)}")
        value = float(text.strip())
    elif s.type == "list":
        value = _parse_list(s, text)
    else:
        value = text.replace("\r\n", "\n") if s.type == "text" else text
    check(s, value)
    return value


def _parse_list(s: Setting, text: str) -> list[str]:
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _refuse(s, "expected a JSON list of strings or comma-separated items")
        return [i.strip() for i in items if i.strip()]
    return [i.strip() for i in text.split(",") if i.strip()]


def _outside(s: Setting, value: float) -> bool:
    return (s.min is not None and value < s.min) or (s.max is not None and value > s.max)


def check(s: Setting, value: Value) -> None:
    """Refuse a typed value outside the option's range, options or format."""
    if isinstance(value, int | float) and not isinstance(value, bool) and _outside(s, value):
        lo = "" if s.min is None else encode_plain(s.min)
        hi = "" if s.max is None else encode_plain(s.max)
        raise _refuse(s, f"{encode_plain(value)} is out of range {lo}..{hi}")
    allowed = [encode_plain(o) for o in s.options]
    for item in value if isinstance(value, list) else [value]:
        text = encode_plain(item)
        if allowed and text not in allowed:
            raise _refuse(s, f"{_shown(text)} is not one of {', '.join(allowed)}")
        check_text(s, text)
        if isinstance(value, list) and (not text or "," in text or list_separator(s) in text):
            raise _refuse(s, f"a list item cannot be empty or contain {list_separator(s)!r} or ','")


def encode_plain(value: Value) -> str:
    """Text for messages and option matching: true/false, 16, 1.5, a,b."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def bool_words(old: str | None, default: tuple[str, str]) -> tuple[str, str]:
    """Keep the spelling a file already uses for a bool (ARK's True, Quake's 1...)."""
    for family in BOOL_FAMILIES:
        if old is not None and old.strip() in family:
            return family
    return default


def encode(
    s: Setting,
    value: Value,
    *,
    bools: tuple[str, str] = ("true", "false"),
    fixed_floats: bool = False,
) -> str:
    """The text a file holds for a typed value."""
    if isinstance(value, bool):
        return bools[0] if value else bools[1]
    if isinstance(value, float):
        return f"{value:.6f}" if fixed_floats else repr(value)  # Unreal writes 1.000000
    if isinstance(value, list):
        return list_separator(s).join(value)
    return str(value)


def decode(s: Setting, raw: str) -> Value:
    """The typed value of stored text; the text itself when it does not fit the type (the
    panel then shows what is really there)."""
    text = raw.strip()
    if s.type == "bool":
        word = text.lower()
        return word in TRUE if word in TRUE + FALSE else raw
    if s.type == "int":
        if _INT_RE.fullmatch(text):
            return int(text)
        if _FLOAT_RE.fullmatch(text) and float(text).is_integer():
            return int(float(text))  # Unreal writes 70.000000 for some whole numbers
        return raw
    if s.type == "float":
        return float(text) if _FLOAT_RE.fullmatch(text) else raw
    if s.type == "list":
        items = re.split(r"[,\s]+" if s.format == "cfg" else ",", text)
        return [i.strip() for i in items if i.strip()]
    return raw
