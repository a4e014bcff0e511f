"""cli format: options that live in the instance record and go on the game's command line (pure).

The record keeps `key -> text` (the manifest's key; text as `render` makes it). The unit's
command template gets `template_values`: every cli option of the app, set or defaulted, as
one argument's text ("" when unset without a default). values.py has already refused
whitespace, quotes, `;`, `?`, `\\` and a leading - or + (which a game would take for another
switch), so a value is one argument and cannot add another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .spec import Setting
from .values import Value, decode, encode


def render(s: Setting, value: Value) -> str:
    """One argument's text: true/false, 16, 1.5, a,b."""
    return encode(s, value)


def read(values: Mapping[str, str], s: Setting) -> Value | None:
    raw = values.get(s.key)
    return None if raw is None else decode(s, raw)


def write(values: Mapping[str, str], s: Setting, value: Value | None) -> dict[str, str]:
    """A new mapping with the option set, or dropped for None (the default applies)."""
    out = dict(values)
    if value is None:
        out.pop(s.key, None)
    else:
        out[s.key] = render(s, value)
    return out


def template_values(settings: Iterable[Setting], values: Mapping[str, str]) -> dict[str, str]:
    """What `{{ config.<key> }}` renders to, for every cli option of the app."""
    out: dict[str, str] = {}
    for s in settings:
        if s.format != "cli":
            continue
        if s.key in values:
            out[s.key] = values[s.key]
        else:
            out[s.key] = "" if s.default is None else render(s, s.default)
    return out
