"""Valve KeyValues text (VDF): appmanifest_*.acf and `app_info_print` trees. Pure.

A document is a sequence of `key value` pairs where a value is a string or a `{ ... }`
block of more pairs. Keys and values are "quoted" (with \\n \\t \\\\ \\" escapes) or bare
words; `//` starts a comment; `[$WIN32]`-style conditions after a value are skipped.
A repeated key keeps its last value (blocks with the same key are merged), as Steam does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TypeAlias

from ..errors import CorruptRecord

VdfDict: TypeAlias = "dict[str, str | VdfDict]"
Token: TypeAlias = tuple[str, str, int]  # kind (str, open, close), value, line

_MAX_DEPTH = 64
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<open>\{)
  | (?P<close>\})
  | (?P<cond>\[[^\]\n]*\])
  | (?P<bare>[^\s"{}\[\]]+)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class VdfError(CorruptRecord, ValueError):
    """Text that is not KeyValues: the message names the line."""


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), token[1:-1])


def _tokens(text: str, pos: int = 0, line: int = 1) -> Iterator[Token]:
    """Strings and braces, lazily: text after the last token we ask for is never judged."""
    for m in _TOKEN.finditer(text, pos):
        kind, value = m.lastgroup or "bad", m.group()
        if kind == "bad":
            raise VdfError(f"unexpected {value!r} on line {line}")
        if kind == "quoted":
            yield "str", _unquote(value), line
        elif kind == "bare":
            yield "str", value, line
        elif kind in ("open", "close"):
            yield kind, value, line
        line += value.count("\n")


def _pairs(tokens: Iterator[Token], depth: int) -> VdfDict:
    """Pairs up to the `}` closing this block (depth > 0) or the end of the text (depth 0)."""
    if depth > _MAX_DEPTH:
        raise VdfError(f"blocks nested deeper than {_MAX_DEPTH}")
    out: VdfDict = {}
    for kind, key, line in tokens:
        if kind == "close":
            if depth == 0:
                raise VdfError(f"unmatched '}}' on line {line}")
            return out
        if kind != "str":
            raise VdfError(f"expected a key on line {line}, got {key!r}")
        vkind, value, _ = next(tokens, ("end", "", line))
        if vkind == "str":
            out[key] = value
        elif vkind == "open":
            block = _pairs(tokens, depth + 1)
            old = out.get(key)
            out[key] = {**old, **block} if isinstance(old, dict) else block
        else:
            raise VdfError(f"key {key!r} on line {line} has no value")
    if depth:
        raise VdfError("unexpected end of text: a '{' is not closed")
    return out


def loads(text: str) -> VdfDict:
    """Parse a whole document into nested dicts; raise VdfError naming the line if malformed."""
    return _pairs(_tokens(text), 0)


def find_block(text: str, key: str) -> VdfDict | None:
    """The block of the first line `"<key>" {`, ignoring whatever surrounds it (console noise)."""
    m = re.search(rf'^[ \t]*"{re.escape(key)}"\s*\{{', text, re.MULTILINE)
    if not m:
        return None
    line = text.count("\n", 0, m.end()) + 1
    return _pairs(_tokens(text, m.end(), line), 1)


def get(tree: VdfDict, *keys: str) -> str | VdfDict | None:
    """Follow keys case-insensitively (Steam versions differ in key case); None if absent."""
    node: str | VdfDict = tree
    for key in keys:
        if not isinstance(node, dict):
            return None
        if key in node:
            node = node[key]
            continue
        match = [v for k, v in node.items() if k.casefold() == key.casefold()]
        if not match:
            return None
        node = match[-1]
    return node


def get_str(tree: VdfDict, *keys: str) -> str | None:
    value = get(tree, *keys)
    return value if isinstance(value, str) else None


def get_dict(tree: VdfDict, *keys: str) -> VdfDict | None:
    value = get(tree, *keys)
    return value if isinstance(value, dict) else None
