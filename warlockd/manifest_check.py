"""What every part of manifest reading shares: the collector of problems, and the checks of
the values manifests hold most (relative paths, lists of strings, one-line templates)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_REL_RE = re.compile(r"[A-Za-z0-9._@+/*-]+")


class Checker:
    """Collects every problem of one manifest, so the author fixes them in one pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[str] = []

    def bad(self, key: str, expected: str) -> None:
        self.errors.append(f"{self.path}: {key}: expected {expected}")

    def get(
        self,
        data: dict[str, Any],
        key: str,
        kind: type,
        expected: str,
        where: str = "",
        default: Any = ...,
        check: Any = None,
    ) -> Any:
        """data[key] if it has the right type (and passes `check`), else record why."""
        name = f"{where}{key}"
        if key not in data:
            if default is ...:
                self.bad(name, expected + " (missing)")
                return None
            return default
        value = data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok or (check is not None and not check(value)):
            self.bad(name, f"{expected}, got {value!r}")
            return None if default is ... else default
        return value

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.bad(key, f"a [{key}] table")
            return {}
        return value


def strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def relative(value: str) -> bool:
    return bool(_REL_RE.fullmatch(value)) and not value.startswith("/") and ".." not in value


def one_line(value: str) -> bool:
    return bool(value.strip()) and value.isprintable()
