"""Apps: installer manifests (`installers/<slug>.toml`), validated with every error at once."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotFound
from .model import validate_guid
from .paths import Paths

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
QUERY_PROTOCOLS = ("none", "warlock-status")


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    BOTH = "both"  # the same number on TCP and UDP

    def covers(self, proto: str) -> bool:
        return self is Protocol.BOTH or self.value == proto


@dataclass(frozen=True)
class PortSpec:
    key: str
    protocol: Protocol
    default: int
    description: str = ""
    env: str | None = None  # the environment variable that tells the game


@dataclass(frozen=True)
class App:
    guid: str
    slug: str
    title: str
    command: tuple[str, ...]  # jinja2 templates over instance values
    ports: tuple[PortSpec, ...]
    manifest: Path
    max_players: int = 16
    notify: bool = True  # the program sends READY=1 itself
    stop_timeout: int = 60
    env: dict[str, str] = field(default_factory=dict)
    query: str = "none"  # the player-count protocol
    query_port: str | None = None  # the key of the port it answers on

    @property
    def asset_path(self) -> Path:
        """Where the app's files are; a bundled app ships beside its manifest."""
        return self.manifest.parent

    def port(self, key: str) -> PortSpec:
        for p in self.ports:
            if p.key == key:
                return p
        raise InvalidInput(
            f"{self.slug} has no port {key!r}",
            hint="its ports are " + ", ".join(p.key for p in self.ports),
        )


class _Checker:
    """Collects every problem of one manifest, so the author fixes them in one pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[str] = []

    def bad(self, key: str, expected: str) -> None:
        self.errors.append(f"{self.path}: {key}: expected {expected}")

    def get(
        self, data: dict[str, Any], key: str, kind: type, expected: str, where: str = ""
    ) -> Any:
        name = f"{where}{key}"
        if key not in data:
            self.bad(name, expected + " (missing)")
            return None
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.bad(name, f"{expected}, got {value!r}")
            return None
        return value


def parse_manifest(path: Path, data: dict[str, Any]) -> App:
    c = _Checker(path)
    guid = c.get(data, "guid", str, "a lowercase UUID")
    if guid is not None:
        try:
            validate_guid(guid)
        except InvalidInput:
            c.bad("guid", f"a lowercase UUID, got {guid!r}")
    slug = c.get(data, "slug", str, "a slug of a-z, 0-9 and -")
    if slug is not None and not _SLUG_RE.fullmatch(slug):
        c.bad("slug", f"a slug of a-z, 0-9 and -, got {slug!r}")
    title = c.get(data, "title", str, "a title")
    run = c.get(data, "run", dict, "a [run] table") or {}
    command = c.get(run, "command", list, "a non-empty list of strings", "run.")
    if command is not None and (not command or not all(isinstance(a, str) for a in command)):
        c.bad("run.command", f"a non-empty list of strings, got {command!r}")
    command = command or []
    max_players = data.get("max_players", 16)
    if not isinstance(max_players, int) or not 1 <= max_players <= 10_000:
        c.bad("max_players", f"an integer 1..10000, got {max_players!r}")
    notify = run.get("notify", True)
    if not isinstance(notify, bool):
        c.bad("run.notify", f"true or false, got {notify!r}")
    stop_timeout = run.get("stop_timeout", 60)
    if not isinstance(stop_timeout, int) or not 1 <= stop_timeout <= 3600:
        c.bad("run.stop_timeout", f"seconds 1..3600, got {stop_timeout!r}")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(v, str) and _ENV_RE.fullmatch(k) for k, v in env.items()
    ):
        c.bad("env", 'a table of NAME = "value" strings')
        env = {}
    ports = _parse_ports(c, data.get("ports"))
    query = data.get("query", {})
    protocol = query.get("protocol", "none") if isinstance(query, dict) else None
    if protocol not in QUERY_PROTOCOLS:
        c.bad("query.protocol", f"one of {', '.join(QUERY_PROTOCOLS)}, got {protocol!r}")
    query_port = query.get("port") if isinstance(query, dict) else None
    if query_port is not None and query_port not in {p.key for p in ports}:
        c.bad("query.port", f"the key of a declared port, got {query_port!r}")
    if c.errors:
        raise InvalidInput(f"{len(c.errors)} problem(s) in {path}:\n  " + "\n  ".join(c.errors))
    return App(
        guid=guid,
        slug=slug,
        title=title,
        command=tuple(command),
        ports=ports,
        manifest=path,
        max_players=max_players,
        notify=notify,
        stop_timeout=stop_timeout,
        env=dict(env),
        query=str(protocol),
        query_port=query_port or (ports[0].key if ports else None),
    )


def _parse_ports(c: _Checker, raw: Any) -> tuple[PortSpec, ...]:
    if not isinstance(raw, list) or not raw:
        c.bad("ports", "at least one [[ports]] table")
        return ()
    specs: list[PortSpec] = []
    for i, p in enumerate(raw):
        where = f"ports[{i}]."
        if not isinstance(p, dict):
            c.bad(f"ports[{i}]", "a table")
            continue
        key = c.get(p, "key", str, "a key of a-z, 0-9 and _", where)
        if key is not None and not _KEY_RE.fullmatch(key):
            c.bad(where + "key", f"a key of a-z, 0-9 and _, got {key!r}")
        proto = c.get(p, "protocol", str, "tcp, udp or both", where)
        if proto is not None and proto not in Protocol.__members__.values():
            c.bad(where + "protocol", f"tcp, udp or both, got {proto!r}")
        default = c.get(p, "default", int, "a port 1024..65535", where)
        if default is not None and not 1024 <= default <= 65535:
            c.bad(where + "default", f"a port 1024..65535, got {default}")
        env = p.get("env")
        if env is not None and not (isinstance(env, str) and _ENV_RE.fullmatch(env)):
            c.bad(where + "env", f"an environment variable name, got {env!r}")
        if None not in (key, proto, default) and proto in Protocol.__members__.values():
            specs.append(
                PortSpec(key, Protocol(proto), default, str(p.get("description", "")), env)
            )
    if len({s.key for s in specs}) != len(specs):
        c.bad("ports", "distinct keys")
    return tuple(specs)


def load_manifest(path: Path) -> App:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{path}: not valid TOML: {e}") from None
    return parse_manifest(path, data)


def manifest_files(paths: Paths) -> list[Path]:
    """Shipped manifests, then the admin's, which win on the same slug."""
    found: dict[str, Path] = {}
    for d in (paths.installers, paths.extra_installers):
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found[f.stem] = f
    return list(found.values())


def find_app(paths: Paths, slug_or_guid: str) -> App:
    for f in manifest_files(paths):
        if f.stem == slug_or_guid:
            return load_manifest(f)
    for f in manifest_files(paths):
        try:
            app = load_manifest(f)
        except InvalidInput:
            continue  # a broken manifest of another app must not hide this one
        if slug_or_guid in (app.guid, app.slug):
            return app
    known = ", ".join(f.stem for f in manifest_files(paths)) or "none"
    raise NotFound(f"unknown app {slug_or_guid!r}", hint=f"known apps: {known}")
