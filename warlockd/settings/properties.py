"""properties format: `key=value` files, one key set at a time, other lines untouched (pure).

Two styles (the manifest's `style`); no Debian package parses Java .properties files:
- java (default): java.util.Properties as Minecraft reads server.properties and eula.txt:
  `#`/`!` comments, `=`, `:` or spaces between key and value, backslash escapes
  (\\n, \\uXXXX...) and lines continued by a trailing backslash. Written values are escaped
  the way Properties.store does, non-ASCII as \\uXXXX, so a line break stays in the value.
- plain: `key = value` taken literally, as Minetest (minetest.conf) and Project Zomboid
  (servertest.ini) read them; `#` comment lines. Minetest's `key = \"\"\"` blocks and
  `key = {` groups are skipped over whole, so no line inside them is taken for a key.
"""

from __future__ import annotations

from . import lines
from .spec import Setting
from .values import Value, bool_words, decode, encode

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class _Entry:
    """One key: lines[start:end] hold it; `prefix` is the key and separator as written."""

    def __init__(self, start: int, end: int, key: str, raw: str, prefix: str) -> None:
        self.start, self.end, self.key, self.raw, self.prefix = start, end, key, raw, prefix


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 == len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u" and len(text) >= i + 6:
            try:
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            except ValueError:
                pass  # Java refuses a malformed \\u; keep it as it stands
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    joined = "".join(out)
    try:  # \\uD83D\\uDE00 (a surrogate pair, as Java writes) makes one character
        return joined.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return joined  # a lone surrogate: shown as it is


def escape(text: str) -> str:
    """A value as Properties.store writes it."""
    out: list[str] = []
    for i, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c in "\t\n\r\f":
            out.append("\\" + "tnrf"["\t\n\r\f".index(c)])
        elif c in "=:#!" or (c == " " and i == 0):
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            data = c.encode("utf-16-be")  # two UTF-16 units past U+FFFF, as Java writes
            out += [f"\\u{data[j] << 8 | data[j + 1]:04X}" for j in range(0, len(data), 2)]
    return "".join(out)


def _continued(text: str) -> bool:
    """A logical line goes on when it ends with an odd number of backslashes."""
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _java_entries(all_lines: list[str]) -> list[_Entry]:
    out: list[_Entry] = []
    i = 0
    while i < len(all_lines):
        start = i
        logical = lines.content(all_lines[i]).lstrip(" \t\f")
        i += 1
        if not logical or logical[0] in "#!":
            continue
        while _continued(logical) and i < len(all_lines):
            logical = logical[:-1] + lines.content(all_lines[i]).lstrip(" \t\f")
            i += 1
        k = 0  # the key ends at the first unescaped separator
        while k < len(logical) and logical[k] not in "=: \t\f":
            k += 2 if logical[k] == "\\" else 1
        k = min(k, len(logical))
        v = k
        while v < len(logical) and logical[v] in " \t\f":
            v += 1
        if v < len(logical) and logical[v] in "=:":
            v += 1
            while v < len(logical) and logical[v] in " \t\f":
                v += 1
        first = lines.content(all_lines[start])
        indent = first[: len(first) - len(first.lstrip(" \t\f"))]
        out.append(
            _Entry(start, i, _unescape(logical[:k]), _unescape(logical[v:]), indent + logical[:v])
        )
    return out


def _plain_entries(all_lines: list[str]) -> list[_Entry]:
    out: list[_Entry] = []
    i = 0
    while i < len(all_lines):
        start = i
        text = lines.content(all_lines[i])
        i += 1
        if text.lstrip().startswith("#") or "=" not in text:
            continue
        name, _, value = text.partition("=")
        raw = value.strip()
        if raw in ('"""', "{"):  # a block or a group: find its end, keep it out of reach
            close, depth = ('"""', 0) if raw == '"""' else ("}", 1)
            while i < len(all_lines):
                inner = lines.content(all_lines[i]).strip()
                i += 1
                if raw == "{":
                    depth += inner.endswith("{") - (inner == "}")
                if inner == close and depth == 0:
                    break
            continue
        prefix = text[: len(name) + 1] + value[: len(value) - len(value.lstrip())]
        out.append(_Entry(start, i, name.strip(), raw, prefix))
    return out


def _entries(text: str, s: Setting) -> list[_Entry]:
    parse = _plain_entries if s.style == "plain" else _java_entries
    return [e for e in parse(lines.split(text)) if e.key == s.key]


def read(text: str, s: Setting) -> Value | None:
    found = _entries(text, s)
    return decode(s, found[-1].raw) if found else None  # the last one wins, as in Java


def write(text: str, s: Setting, value: Value | None) -> str:
    """`text` with the key set to `value` (every copy of it), added at the end, or removed
    for None."""
    found = _entries(text, s)
    all_lines = lines.split(text)
    nl = lines.ending(text)
    raw = None
    if value is not None:
        raw = encode(
            s, value, bools=bool_words(found[-1].raw if found else None, ("true", "false"))
        )
        if s.style != "plain":
            raw = escape(raw)
    for e in reversed(found):
        ending = all_lines[e.end - 1][len(lines.content(all_lines[e.end - 1])) :]
        all_lines[e.start : e.end] = [] if raw is None else [e.prefix + raw + ending]
    if found or raw is None:
        return "".join(all_lines)
    key = escape(s.key) if s.style != "plain" else s.key
    entries = (_plain_entries if s.style == "plain" else _java_entries)(all_lines)
    spaced = bool(entries) and entries[0].prefix.rstrip().endswith(" =")
    return "".join(lines.append(all_lines, [f"{key}{' = ' if spaced else '='}{raw}{nl}"], nl))
