"""Values: instance ids, names, limits and the instance record (pure, no I/O)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, NamedTuple, NewType

from .errors import InvalidInput

DEFAULT_ID = "default"
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_GUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MEMORY_RE = re.compile(r"[1-9][0-9]*[KMGT]?")
_AFFINITY_RE = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
MAX_NAME = 64
_CONSOLE_SPECIAL = '";\\'  # a quote, a command separator, an escape


# An instance id that has been checked: made only by parse_id (and new_id), at the
# boundary where text comes in (argv, D-Bus, a record on disk), so nothing below
# validates it again and mypy tells a checked id from any string.
InstanceId = NewType("InstanceId", str)
UNIT_PREFIX = "game@"


def parse_id(value: str) -> InstanceId:
    """Canonical lowercase UUID or `default`; nothing else reaches a path or a unit name."""
    if value == DEFAULT_ID or _UUID_RE.fullmatch(value):
        return InstanceId(value)
    shown = value.encode("unicode_escape").decode()[:80]
    raise InvalidInput(
        f"invalid instance id {shown!r}",
        hint="an instance id is a lowercase UUID such as "
        "550e8400-e29b-41d4-a716-446655440000, or 'default'",
    )


def new_id() -> InstanceId:
    """A random (version 4) UUID, as uuid.uuid4() makes it, without importing uuid and
    platform for one call."""
    import os

    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return InstanceId(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")


def validate_guid(value: str) -> str:
    if not _GUID_RE.fullmatch(value):
        raise InvalidInput(f"invalid app guid {value!r}", hint="a lowercase UUID")
    return value


def validate_name(value: str) -> str:
    if not value.strip():
        raise InvalidInput("instance name is empty")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"instance name is {len(value)} characters long, at most {MAX_NAME}")
    if not value.isprintable():
        raise InvalidInput("instance name contains a control character (newline, tab...)")
    return value


def new_name(value: str) -> str:
    """A name given for an instance now (create, clone, import, set-config): stricter than
    what records may hold from earlier versions."""
    validate_name(value)
    bad = sorted(set(value) & set(_CONSOLE_SPECIAL))
    if bad:
        # games put the name on a console line: `sv_name X;rcon_password Y` runs two
        raise InvalidInput(
            f"instance name contains {' '.join(bad)}, which game consoles take as syntax",
            hint="use letters, digits, spaces and other punctuation",
        )
    return value


def unit_name(instance_id: InstanceId) -> str:
    return f"{UNIT_PREFIX}{instance_id}.service"


def parse_service(value: str) -> InstanceId:
    """The instance a unit name names: `game@<id>` or `game@<id>.service` (`--service`)."""
    name = value.removesuffix(".service")
    if not name.startswith(UNIT_PREFIX):
        raise InvalidInput(f"--service {value!r} is not a game@<id> unit")
    return parse_id(name[len(UNIT_PREFIX) :])


def user_name(instance_id: InstanceId) -> str:
    """System user names must stay within 31 characters: `wl-` plus 12 hex digits."""
    return "wl-default" if instance_id == DEFAULT_ID else "wl-" + instance_id.replace("-", "")[:12]


# Records are NamedTuples, not dataclasses: importing dataclasses (and inspect with it)
# and building its classes cost every manage.py call about 30 ms, measured in bench/.


class _LimitFields(NamedTuple):
    cpu_quota: int | None = None  # percent of one CPU, e.g. 150
    memory_max: str | None = None  # systemd size: 512M, 2G
    tasks_max: int | None = None
    cpu_affinity: str | None = None  # CPU list: 0-1,3


class Limits(_LimitFields):
    """Resource limits of an instance, checked when made."""

    __slots__ = ()

    def __new__(
        cls,
        cpu_quota: int | None = None,
        memory_max: str | None = None,
        tasks_max: int | None = None,
        cpu_affinity: str | None = None,
    ) -> Limits:
        for what, value in (("cpu quota", cpu_quota), ("tasks limit", tasks_max)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput(f"{what} {value!r} is not a whole number")
        for what, text in (("memory limit", memory_max), ("cpu affinity", cpu_affinity)):
            if text is not None and not isinstance(text, str):  # from a record or a pack
                raise InvalidInput(f"{what} {text!r} is not text")
        if cpu_quota is not None and not 1 <= cpu_quota <= 100_000:
            raise InvalidInput(f"cpu quota {cpu_quota}% is out of range 1..100000")
        if memory_max is not None and not _MEMORY_RE.fullmatch(memory_max):
            raise InvalidInput(f"memory limit {memory_max!r} is not a size", hint="e.g. 512M or 4G")
        if tasks_max is not None and not 1 <= tasks_max <= 4_194_304:
            raise InvalidInput(f"tasks limit {tasks_max} is out of range")
        if cpu_affinity is not None and not _AFFINITY_RE.fullmatch(cpu_affinity):
            raise InvalidInput(
                f"cpu affinity {cpu_affinity!r} is not a CPU list", hint="e.g. 0-1,3"
            )
        return super().__new__(cls, cpu_quota, memory_max, tasks_max, cpu_affinity)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self._asdict().items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(
            **{
                k: data[k]
                for k in ("cpu_quota", "memory_max", "tasks_max", "cpu_affinity")
                if k in data
            }
        )


TASKS = ("backup", "restart", "update", "command")
_SCHEDULE_ID_RE = re.compile(r"[0-9a-f]{8}")
WARN_RE = re.compile(r"\d+[smh]")


class Schedule(NamedTuple):
    """A task run on a calendar by a systemd timer (schedules.py installs it)."""

    id: str  # 8 hex digits
    task: str  # backup | restart | update | command
    on_calendar: str  # systemd's calendar expression, as systemd normalised it
    randomized_delay: int = 0  # seconds the timer may wait at random (RandomizedDelaySec=)
    keep: int | None = None  # backup: keep the newest N
    to: str = "local"  # backup: local or offsite
    warn: str | None = None  # restart, update: how long players get (5m...)
    when_empty: bool = False  # update: only while nobody plays
    text: str | None = None  # command: the console command
    paused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self._asdict().items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """Check a schedule read from a record (or a pack); any problem raises InvalidInput."""
        s = cls(**{k: data[k] for k in cls._fields if k in data})
        problems = [
            ("id", bool(_SCHEDULE_ID_RE.fullmatch(str(s.id)))),
            ("task", s.task in TASKS),
            ("on_calendar", isinstance(s.on_calendar, str) and s.on_calendar.isprintable()),
            ("randomized_delay", _whole_ok(s.randomized_delay, 0, 86400)),
            ("keep", s.keep is None or _whole_ok(s.keep, 1, 10_000)),
            ("to", s.to in ("local", "offsite")),
            ("warn", s.warn is None or bool(WARN_RE.fullmatch(str(s.warn)))),
            ("when_empty", isinstance(s.when_empty, bool)),
            ("text", s.text is None or (isinstance(s.text, str) and s.text.isprintable())),
            ("paused", isinstance(s.paused, bool)),
        ]
        bad = [name for name, ok in problems if not ok]
        if bad or set(data) - set(cls._fields):
            raise InvalidInput(f"schedule {data.get('id')!r}: bad {', '.join(bad) or 'keys'}")
        return s


def _whole_ok(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class Instance(NamedTuple):
    """An instance's record, as the registry keeps it (TOML)."""

    id: InstanceId
    app: str  # the app's guid
    name: str
    path: str
    ports: dict[str, int]
    created_at: str  # ISO 8601, UTC
    enabled: bool = False
    limits: Limits = Limits()
    # the empty defaults are shared: records are values, never changed in place
    env: dict[str, str] = {}  # noqa: RUF012
    build: str = ""  # the install build it runs from
    secrets: dict[str, str] = {}  # noqa: RUF012 (generated once: rcon passwords...)
    layout: int = 2  # of its directory (layout.py); records without one are from layout 1
    config: dict[str, str] = {}  # noqa: RUF012 (settings kept here: command-line options)
    max_players: int | None = None  # when set-config changed the app's default
    settings_changed: float = 0.0  # when a setting last changed (a run older needs a restart)
    schedules: tuple[Schedule, ...] = ()

    @property
    def unit(self) -> str:
        return unit_name(self.id)

    @property
    def service(self) -> str:
        """The unit without `.service`, as panels name it (they add the suffix)."""
        return f"{UNIT_PREFIX}{self.id}"

    @property
    def user(self) -> str:
        return user_name(self.id)

    def with_(self, **changes: Any) -> Instance:
        return self._replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "name": self.name,
            "path": self.path,
            "ports": dict(self.ports),
            "created_at": self.created_at,
            "enabled": self.enabled,
            "limits": self.limits.to_dict(),
            "env": dict(self.env),
            "build": self.build,
            "secrets": dict(self.secrets),
            "layout": self.layout,
            "config": dict(self.config),
            "settings_changed": self.settings_changed,
            "schedules": [s.to_dict() for s in self.schedules],
        } | ({"max_players": self.max_players} if self.max_players is not None else {})

    def public(self) -> dict[str, Any]:
        """The record as commands print it: generated secrets (rcon passwords) stay on disk."""
        return self.to_dict() | {"secrets": sorted(self.secrets), "service": self.service}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instance:
        """Validate a record read from disk; any problem raises InvalidInput."""
        try:
            ports = {str(k): int(v) for k, v in dict(data.get("ports", {})).items()}
            return cls(
                id=parse_id(str(data["id"])),
                app=validate_guid(str(data["app"])),
                name=validate_name(str(data["name"])),
                path=str(data["path"]),
                ports=ports,
                created_at=str(data["created_at"]),
                enabled=bool(data.get("enabled", False)),
                limits=Limits.from_dict(dict(data.get("limits", {}))),
                env={str(k): str(v) for k, v in dict(data.get("env", {})).items()},
                build=str(data.get("build", "")),
                secrets={str(k): str(v) for k, v in dict(data.get("secrets", {})).items()},
                layout=_whole(data.get("layout", 1), "layout", 1, 2),
                settings_changed=float(data.get("settings_changed", 0.0)),
                schedules=tuple(Schedule.from_dict(dict(s)) for s in data.get("schedules", [])),
                config={str(k): str(v) for k, v in dict(data.get("config", {})).items()},
                max_players=(
                    None
                    if data.get("max_players") is None
                    else _whole(data["max_players"], "max_players", 1, 10_000)
                ),
            )
        except KeyError as e:
            raise InvalidInput(f"missing key {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            if isinstance(e, InvalidInput):
                raise
            raise InvalidInput(f"bad value: {e}") from None


def _whole(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} {value!r} is not a whole number {low}..{high}")
    return value


class Status(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"


# What Warlock panels know: a crashed instance is stopped to them (with `crashed` beside).
PANEL_STATUS = {Status.CRASHED: "stopped"}


def status_of(active: str, sub: str) -> Status:
    """Map systemd's ActiveState/SubState to the five states users see."""
    if active == "active" or active == "reloading":
        return Status.RUNNING
    if active == "failed" or sub == "auto-restart":
        return Status.CRASHED
    if active == "activating":
        return Status.STARTING
    if active == "deactivating":
        return Status.STOPPING
    return Status.STOPPED
