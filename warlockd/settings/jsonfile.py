"""json format: one key of a JSON object (or of the object named by `section`) (pure).

The stdlib parses and writes the document; key order is kept (dicts keep it) and so is the
layout style: the indentation of the first indented line, or the compact separators of a
one-line file. JSON has no comments to keep.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import InvalidInput
from .spec import Setting
from .values import Value

_INDENT_RE = re.compile(r"\n([ \t]+)\S")


def _load(text: str, s: Setting) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InvalidInput(f"{s.file} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{s.file} does not hold a JSON object")
    return data


def _holder(data: dict[str, Any], s: Setting, create: bool) -> dict[str, Any] | None:
    if s.section is None:
        return data
    inner = data.get(s.section)
    if inner is None and create:
        inner = data[s.section] = {}
    if inner is not None and not isinstance(inner, dict):
        raise InvalidInput(f"{s.file}: {s.section!r} is not a JSON object")
    return inner


def read(text: str, s: Setting) -> Value | None:
    holder = _holder(_load(text, s), s, create=False)
    if holder is None or s.key not in holder or holder[s.key] is None:
        return None
    value = holder[s.key]
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return json.dumps(value)  # an object or a mixed list: shown as its JSON text


def write(text: str, s: Setting, value: Value | None) -> str:
    data = _load(text, s)
    holder = _holder(data, s, create=value is not None)
    if holder is None:
        return text
    if value is None:
        holder.pop(s.key, None)
    else:
        holder[s.key] = value
    match = _INDENT_RE.search(text)
    if match or not text.strip():
        indent: str | None = match.group(1) if match else "  "
        separators = (",", ": ")
    else:
        indent = None
        compact = '":' in text and '": ' not in text
        separators = (",", ":") if compact else (", ", ": ")
    out = json.dumps(data, indent=indent, separators=separators, ensure_ascii=False)
    return out + "\n" if text.endswith("\n") or not text.strip() else out
