"""The shapes of the HTTP API's requests and answers (pydantic 1), which the OpenAPI
document at /api/v1/openapi.json is made from.

Request bodies refuse unknown fields and wrong types (strict types: "16" is not 16): a
client's mistake is a 422 naming it, never a guess. Answers document what the routes send;
the routes build them as plain data (the listing is encoded once, without pydantic). A
field that may be null says so in the schema ("nullable", as OpenAPI 3.0 spells it), which
pydantic 1 does not by itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, StrictBool, StrictFloat, StrictInt, constr

if TYPE_CHECKING:  # what mypy sees; pydantic gets the checked strings below
    Name = str
    Id = str
    Text = str
    Line = str
    Secret = str
else:
    Name = constr(strict=True, min_length=1, max_length=64)
    Id = constr(strict=True, min_length=1, max_length=64)
    Text = constr(strict=True, max_length=4096)
    Line = constr(strict=True, min_length=1, max_length=1000)
    Secret = constr(strict=True, max_length=1024)


def _nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    for field in model.__fields__.values():
        prop = schema.get("properties", {}).get(field.alias)
        if prop is not None and field.allow_none:
            prop["nullable"] = True


class Answer(BaseModel):
    """What the API sends (extra fields allowed: answers may grow)."""

    class Config:
        schema_extra = staticmethod(_nullable)


class Body(BaseModel):
    """What a client sends: unknown fields are refused."""

    class Config:
        extra = "forbid"
        schema_extra = staticmethod(_nullable)


class Error(Answer):
    error: str
    hint: str | None
    detail: list[dict[str, Any]] | None = None


class State(StrEnum):
    running = "running"
    starting = "starting"
    stopping = "stopping"
    stopped = "stopped"
    crashed = "crashed"


class Port(Answer):
    key: str
    port: int
    protocol: str | None
    description: str


class InstanceRow(Answer):
    id: str
    name: str
    app: str | None
    app_guid: str
    service: str
    status: State
    players: int | None
    max_players: int | None
    cpu_percent: float | None
    memory_bytes: int | None
    disk_bytes: int | None
    tasks: int | None
    uptime: int | None
    restarts: int
    result: str
    restart_needed: bool
    ports: list[Port]
    path: str
    created_at: str
    sampled_at: float | None


class UnitLive(Answer):
    active: str
    sub: str
    main_pid: int
    status_text: str


class InstanceDetail(InstanceRow):
    limits: dict[str, Any]
    env: dict[str, str]
    build: str
    enabled: bool
    config: dict[str, str]
    secrets: list[str]
    unit: UnitLive


class OpState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Operation(Answer):
    id: str
    command: str
    instance_id: str | None
    who: str
    state: OpState
    created: float
    started: float | None
    finished: float | None
    progress: dict[str, Any] | None
    result: Any
    notes: list[str]
    error: dict[str, Any] | None


class Accepted(Answer):
    """A long command under way: follow `operation.id` over SSE or GET /operations/{id}."""

    operation: Operation
    instance_id: str | None


class Done(Answer):
    """A command's outcome: its data (as manage.py prints it) and its notes."""

    command: str
    instance_id: str | None
    data: Any
    notes: list[str]
    operation: str | None = None  # when it ran as an operation (its events name it)


class Backup(Answer):
    where: str
    name: str
    time: str
    size: int | None
    restore: str
    instance_id: str


class SamplePoint(Answer):
    ts: float
    status: str
    cpu_percent: float | None
    memory_bytes: int | None
    tasks: int | None
    disk_bytes: int | None
    players: int | None
    max_players: int | None


class Metrics(Answer):
    instance_id: str
    since: str
    step: float
    samples: list[SamplePoint]


class Event(Answer):
    id: int | None
    ts: float
    kind: str
    instance_id: str | None
    message: str
    data: dict[str, Any]


class LogLine(Answer):
    ts: float | None
    message: str
    priority: int | None
    pid: int | None
    cursor: str


class Logs(Answer):
    instance_id: str
    lines: list[LogLine]


class ApiKey(Answer):
    id: str
    name: str
    scope: str
    instances: list[str] | None
    created_at: str
    last_used: str | None
    revoked_at: str | None


class NewApiKey(ApiKey):
    key: str  # shown once


class User(Answer):
    name: str
    scope: str
    instances: list[str] | None
    created_at: str
    password_changed_at: str


class ScheduleRow(Answer):
    id: str
    task: str
    on_calendar: str
    randomized_delay: int
    keep: int | None = None
    to: str
    warn: str | None = None
    when_empty: bool
    text: str | None = None
    paused: bool
    instance_id: str
    name: str
    timer: str
    next_run: str | None
    last_run: str | None
    last_result: str | None


class HostStats(Answer):
    """The host as a whole, from /proc: what the dashboard's totals show."""

    cpus: int
    cpu_percent: float | None  # of all CPUs, since the previous sample
    load: list[float]
    memory_total: int
    memory_available: int
    uptime: float


class Session(Answer):
    who: str
    scope: str
    csrf_token: str | None


class LoggedIn(Answer):
    user: str
    scope: str
    csrf_token: str


# -- request bodies ----------------------------------------------------------------------


class NewInstance(Body):
    app: Name
    name: Name | None = None
    instance_id: Id | None = None
    ports: dict[Name, StrictInt] = {}
    dir: Text | None = None
    env: dict[Name, Text] = {}
    cpu_quota: StrictInt | None = None
    memory_max: Name | None = None
    tasks_max: StrictInt | None = None
    cpu_affinity: Name | None = None


class CloneOf(Body):
    name: Name | None = None
    instance_id: Id | None = None
    ports: dict[Name, StrictInt] = {}
    dir: Text | None = None


class SettingValue(Body):
    value: StrictBool | StrictInt | StrictFloat | Text


class NewBackup(Body):
    max_backups: StrictInt | None = None
    to: Name = "local"


class RestoreOptions(Body):
    force: StrictBool = False


class ConsoleCommand(Body):
    command: Line


class NewSchedule(Body):
    task: Name  # backup, restart, update or command
    text: Line | None = None  # command: the console command
    on_calendar: Line
    randomized_delay: Name | None = None  # 10m
    keep: StrictInt | None = None  # backup: the newest N
    to: Name = "local"
    warn: Name | None = None  # restart, update: 5m
    when_empty: StrictBool = False


class KeyLogin(Body):
    key: Secret


class NewKey(Body):
    name: Name
    scope: Name = "read"
    instances: list[Id] | None = None


class NewUser(Body):
    name: Name
    password: Secret
    scope: Name | None = None
    instances: list[Id] | None = None


class NewPassword(Body):
    password: Secret


class Login(Body):
    name: Secret
    password: Secret
