"""The host's settings, /etc/warlock/warlockd.toml (documented in etc/warlockd.toml): the
daemon's intervals, retention, crash retries, Prometheus directory and webhooks, and how
Warlock panels find the instances ([panel] registration).

A missing file means the defaults. A file with mistakes is refused whole, with every
mistake named (file, key, what was expected) in one message, as manifests are.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInput, WarlockError
from .model import parse_id
from .offsite import OffsiteSettings, check_table
from .store import EVENT_KINDS, Event
from .web.settings import ApiSettings
from .web.settings import check_table as check_api

HOOK_KINDS = ("json", "discord")
# How Warlock panels find instances: a .app file per instance (seed 002), or per game
REGISTRATIONS = ("instance", "game")


def valid_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable()


@dataclass(frozen=True)
class Webhook:
    url: str
    kind: str = "json"  # "discord" | "json"
    instances: frozenset[str] = frozenset()  # empty = all
    events: frozenset[str] = frozenset()  # empty = all

    def __post_init__(self) -> None:
        if not valid_url(self.url):
            raise InvalidInput(f"webhook url {self.url[:80]!r}: expected an http(s):// URL")
        if self.kind not in HOOK_KINDS:
            raise InvalidInput(
                f"webhook kind {self.kind!r}: expected one of {', '.join(HOOK_KINDS)}"
            )

    def wants(self, ev: Event) -> bool:
        return (not self.instances or ev.instance_id in self.instances) and (
            not self.events or ev.kind in self.events
        )

    def __str__(self) -> str:
        # The path of a Discord URL is its secret token: logs show scheme and host only.
        parts = urlsplit(self.url)  # hostname, not netloc: that may hold user:password
        port = f":{parts.port}" if parts.port else ""
        return f"{self.kind} webhook {parts.scheme}://{parts.hostname}{port}/…"

    def __repr__(self) -> str:  # dataclass keeps a __repr__ defined here
        return f"<{self} instances={sorted(self.instances)} events={sorted(self.events)}>"


@dataclass(frozen=True)
class Config:
    interval: float = 10
    disk_interval: float = 300
    raw_hours: int = 24
    minute_days: int = 7
    hour_days: int = 90
    max_db_mb: int = 256
    crash_retry_base: float = 60
    crash_retry_max: float = 3600
    prometheus_dir: Path | None = Path("/var/lib/prometheus/node-exporter")
    webhooks: tuple[Webhook, ...] = ()
    registration: str = "instance"  # [panel]: how Warlock panels find instances (see below)
    offsite: OffsiteSettings | None = None  # [offsite]: a restic repository for backups
    api: ApiSettings = field(default_factory=ApiSettings)  # [api]: the HTTP API (web/settings.py)

    @property
    def max_db_bytes(self) -> int:
        return self.max_db_mb * 1024 * 1024


# key: (type, expectation, check); ints are accepted where seconds may be fractional.
_NUMBERS: dict[str, tuple[type, str, Any]] = {
    "interval": (float, "seconds 1..3600", lambda v: 1 <= v <= 3600),
    "disk_interval": (float, "seconds 10..86400", lambda v: 10 <= v <= 86400),
    "raw_hours": (int, "hours 1..168", lambda v: 1 <= v <= 168),
    "minute_days": (int, "days 1..365", lambda v: 1 <= v <= 365),
    "hour_days": (int, "days 1..3650", lambda v: 1 <= v <= 3650),
    "max_db_mb": (int, "megabytes 1..1048576", lambda v: 1 <= v <= 1 << 20),
    "crash_retry_base": (float, "seconds 1..86400", lambda v: 1 <= v <= 86400),
    "crash_retry_max": (float, "seconds 1..604800", lambda v: 1 <= v <= 604800),
}
_HOOK_KEYS = ("url", "kind", "instances", "events")


class _Checker:
    """Collects every problem of the file, so the admin fixes them in one pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[str] = []

    def bad(self, key: str, expected: str) -> None:
        self.errors.append(f"{self.path}: {key}: expected {expected}")

    def number(self, data: dict[str, Any], key: str) -> Any:
        kind, expected, check = _NUMBERS[key]
        value = data[key]
        ok_type = (int, float) if kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, ok_type) or not check(value):
            self.bad(key, f"{expected}, got {value!r}")
            return None
        return kind(value)


def _is_id(value: Any) -> bool:
    try:
        return isinstance(value, str) and parse_id(value) == value
    except InvalidInput:
        return False


def _strings(value: Any, ok: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and ok(v) for v in value)


def _webhook(c: _Checker, where: str, t: Any) -> Webhook | None:
    if not isinstance(t, dict):
        c.bad(where, "a [[webhooks]] table")
        return None
    for extra in sorted(set(t) - set(_HOOK_KEYS)):
        c.bad(f"{where}.{extra}", f"one of the keys {', '.join(_HOOK_KEYS)} (unknown key)")
    errors = len(c.errors)
    url, kind = t.get("url"), t.get("kind", "json")
    instances, events = t.get("instances", []), t.get("events", [])
    if not isinstance(url, str) or not valid_url(url):
        c.bad(f"{where}.url", "an http:// or https:// URL" + ("" if url else " (missing)"))
    if kind not in HOOK_KINDS:
        c.bad(f"{where}.kind", f"one of {', '.join(HOOK_KINDS)}, got {kind!r}")
    if not _strings(instances, _is_id):
        c.bad(f"{where}.instances", "a list of instance ids (lowercase UUIDs or 'default')")
    if not _strings(events, lambda v: v in EVENT_KINDS):
        c.bad(f"{where}.events", f"a list of event kinds among {', '.join(EVENT_KINDS)}")
    if len(c.errors) > errors:
        return None
    return Webhook(str(url), str(kind), frozenset(instances), frozenset(events))


def parse(path: Path, data: dict[str, Any]) -> Config:
    c = _Checker(path)
    known = {f.name for f in fields(Config)} - {"registration"} | {"panel", "api"}
    for extra in sorted(set(data) - known):
        c.bad(extra, f"one of the keys {', '.join(sorted(known))} (unknown key)")
    values: dict[str, Any] = {}
    for key in _NUMBERS:
        if key in data and (value := c.number(data, key)) is not None:
            values[key] = value
    if "prometheus_dir" in data:
        pdir = data["prometheus_dir"]
        if not isinstance(pdir, str) or (pdir and not pdir.startswith("/")):
            c.bad("prometheus_dir", f'an absolute path, or "" to turn it off, got {pdir!r}')
        else:
            values["prometheus_dir"] = Path(pdir) if pdir else None
    if "offsite" in data:
        offsite, problems = check_table(path, data["offsite"])
        c.errors += problems
        values["offsite"] = offsite
    panel = data.get("panel", {})
    if not isinstance(panel, dict):
        c.bad("panel", "a [panel] table")
        panel = {}
    for extra in sorted(set(panel) - {"registration"}):
        c.bad(f"panel.{extra}", "the key registration (unknown key)")
    if "registration" in panel:
        if panel["registration"] in REGISTRATIONS:
            values["registration"] = panel["registration"]
        else:
            c.bad("panel.registration", f"instance or game, got {panel['registration']!r}")
    if "api" in data:
        values["api"] = check_api(c, data["api"])
    hooks = data.get("webhooks", [])
    if not isinstance(hooks, list):
        c.bad("webhooks", "[[webhooks]] tables")
        hooks = []
    found = [_webhook(c, f"webhooks[{i}]", t) for i, t in enumerate(hooks)]
    values["webhooks"] = tuple(h for h in found if h is not None)
    config = Config(**values)
    if config.crash_retry_max < config.crash_retry_base:
        c.bad("crash_retry_max", f"at least crash_retry_base ({config.crash_retry_base:g})")
    if config.disk_interval < config.interval:
        c.bad("disk_interval", f"at least interval ({config.interval:g})")
    if c.errors:
        raise InvalidInput(f"{len(c.errors)} problem(s) in {path}:\n  " + "\n  ".join(c.errors))
    return config


def load(path: Path) -> Config:
    """The settings in `path`; the defaults when it does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise WarlockError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc
    return parse(path, data)
