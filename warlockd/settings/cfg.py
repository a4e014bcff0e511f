"""cfg format: console config files, one variable set at a time, other lines untouched (pure).

Lines look like `set name "value"` / `seta name "value"` (Quake 3, OpenArena's server.cfg),
`name "value"` (Source's server.cfg, Teeworlds) or `name value`, with `//` comments (and `#`
in Teeworlds). Written values are always in double quotes; values.py refuses `"`, `\\` and
`;` so a value can never end early and start a second command. The manifest's `style` says
how a new line starts: quake writes `set name "value"` (a bare `name value` only works for a
variable the engine already knows, and OpenArena's game variables appear after the map
loads); source and teeworlds write `name "value"`. Quake 3 and Source ignore case in
variable names; Teeworlds does not.
"""

from __future__ import annotations

import re

from . import lines
from .spec import Setting
from .values import Value, bool_words, decode, encode

_LINE_RE = re.compile(
    r"(?P<head>\s*(?:set[asu]?\s+)?(?P<name>[^\s\";]+))(?P<gap>[ \t]*)(?P<body>.*)", re.I
)
# Commands that load a map: settings that only apply at a map load must come before them.
_MAP_COMMANDS = ("map", "devmap", "spmap")


class _Line:
    """A `[set] name value [// comment]` line, cut into the parts a rewrite keeps;
    `name` is "" for a blank or comment line."""

    def __init__(self, index: int, text: str, comments: tuple[str, ...]) -> None:
        self.index, self.name, self.raw = index, "", ""
        match = _LINE_RE.fullmatch(text)
        if match is None or text.lstrip().startswith(comments):
            return
        self.name, self.head, body = match["name"], match["head"], match["body"]
        self.gap = match["gap"] or " "
        if body.startswith('"'):
            close = body.find('"', 1)
            end = len(body) if close < 0 else close + 1  # an unclosed quote runs to the end
            self.raw, self.tail = body[1 : close if close >= 0 else end], body[end:]
        else:
            cuts = [i for c in (*comments, ";") if (i := body.find(c)) >= 0]
            self.raw = body[: min(cuts, default=len(body))].rstrip()
            self.tail = body[len(self.raw) :]
        if not body:
            self.gap = " "


def _comments(s: Setting) -> tuple[str, ...]:
    return ("//", "#") if s.style == "teeworlds" else ("//",)


def _same(s: Setting, name: str) -> bool:
    return name == s.key if s.style == "teeworlds" else name.lower() == s.key.lower()


def _parsed(all_lines: list[str], s: Setting) -> list[_Line]:
    return [_Line(i, lines.content(line), _comments(s)) for i, line in enumerate(all_lines)]


def read(text: str, s: Setting) -> Value | None:
    found = [p for p in _parsed(lines.split(text), s) if p.name and _same(s, p.name)]
    return decode(s, found[-1].raw) if found else None  # executed in order: the last wins


def write(text: str, s: Setting, value: Value | None) -> str:
    """`text` with the variable set to `value` (every line that sets it), a new line, or its
    lines removed for None."""
    all_lines = lines.split(text)
    parsed = _parsed(all_lines, s)
    found = [p for p in parsed if p.name and _same(s, p.name)]
    raw = None
    if value is not None:
        raw = encode(s, value, bools=bool_words(found[-1].raw if found else None, ("1", "0")))
    for p in reversed(found):
        ending = all_lines[p.index][len(lines.content(all_lines[p.index])) :]
        if raw is None:
            del all_lines[p.index]
        else:
            all_lines[p.index] = f'{p.head}{p.gap}"{raw}"{p.tail}{ending}'
    if found or raw is None:
        return "".join(all_lines)
    nl = lines.ending(text)
    new = [f'{"set " if s.style == "quake" else ""}{s.key} "{raw}"{nl}']
    maps = [p.index for p in parsed if p.name.lower() in _MAP_COMMANDS]
    if s.style == "quake" and maps:
        at = maps[0]
        while at > 0 and not parsed[at - 1].name and lines.content(all_lines[at - 1]).strip():
            at -= 1  # the comment lines above the map command go with it
        return "".join(lines.insert_at(all_lines, at, new, nl))
    return "".join(lines.append(all_lines, new, nl))
