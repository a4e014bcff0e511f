"""Instances and what is done to them: list, one, create, clone, delete, the actions (start,
stop, restart, update, the delayed ones), settings and the console.

Listings come from the daemon's view; everything else goes through the table. An action is
one row of ACTIONS: its route, its body (made from the command's own options in the table)
and its scope follow from it, so a new command of the table is one line here.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import time
from typing import Any, NamedTuple, Optional

from fastapi import Body as BodyParam
from fastapi import Depends, FastAPI, Request
from pydantic import Field, StrictBool, StrictInt, create_model
from starlette.responses import JSONResponse, Response

from ..actions import Args
from ..commands import COMMANDS
from ..errors import Conflict, InvalidInput
from ..model import new_id, parse_id
from . import schemas
from .app import BASE, Context, done, who
from .errors import Malformed
from .principal import Principal, Scope


class Action(NamedTuple):
    scope: Scope = Scope.OPERATE
    long: bool = False  # an operation: 202 at once, progress over SSE
    fields: tuple[str, ...] = ()  # the command's options a request body may set


# POST /api/v1/instances/{id}/<verb>, each running the table's command of that name.
ACTIONS: dict[str, Action] = {
    "start": Action(),
    "stop": Action(),
    "restart": Action(),
    "update": Action(long=True),
    "delayed-stop": Action(fields=("warn",)),
    "delayed-restart": Action(fields=("warn",)),
    "delayed-update": Action(fields=("warn",)),
}
# What changes the registry: the daemon reads it again before the API says it is done.
CHANGES_REGISTRY = frozenset(
    {
        "create",
        "clone",
        "delete",
        "import",
        "schedule-add",
        "schedule-remove",
        "schedule-pause",
        "schedule-resume",
    }
)
_TYPES: dict[type, Any] = {str: schemas.Text, int: StrictInt, bool: StrictBool}


def options_model(verb: str, fields: tuple[str, ...]) -> type[schemas.Body] | None:
    """A request body for a command's options, from their declaration in the table."""
    if not fields:
        return None
    declared = {o.name: o for o in COMMANDS[verb].options}
    spec: dict[str, Any] = {
        f: (Optional[_TYPES[declared[f].kind]], Field(None, description=declared[f].help))  # noqa: UP045
        for f in fields
    }
    name = "".join(w.title() for w in verb.split("-")) + "Options"
    model: type[schemas.Body] = create_model(name, __base__=schemas.Body, **spec)
    return model


def _encode(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, separators=(",", ":")).encode()


def _gzip(body: bytes) -> bytes:
    # 200 rows are ~127 KB of JSON and ~10 KB gzipped: most of the dashboard's first load
    return gzip.compress(body, 6, mtime=0)


def _ports(given: dict[str, int]) -> list[str]:
    return [f"{k}={v}" for k, v in given.items()]


def _new_id(ctx: Context, given: str | None) -> str:
    if given is None:
        return new_id()
    try:
        iid = parse_id(given)
    except InvalidInput as e:
        raise Malformed(e.message, e.hint) from None
    if ctx.view.get(iid) is not None:
        raise Conflict(f"instance {iid} exists", hint="leave instance_id out to get a new one")
    return iid


def add(app: FastAPI, ctx: Context) -> None:
    read = Depends(ctx.auth.require(Scope.READ))
    operate = Depends(ctx.auth.require(Scope.OPERATE))
    admin = Depends(ctx.auth.require(Scope.ADMIN))
    host_admin = Depends(ctx.auth.require(Scope.ADMIN, instance_param=None))

    listed: dict[str, Any] = {"key": None, "body": b"", "gzip": None}  # the whole listing

    @app.get(f"{BASE}/instances", response_model=list[schemas.InstanceRow], tags=["instances"])
    async def instances(request: Request, p: Principal = read) -> Any:
        """Every instance the caller may see, from the daemon's view. `X-Event-ID`: the
        event stream's position before this snapshot (resume the stream after it).
        Gzipped for a client that accepts it."""
        position = ctx.bus.last_id
        packed = "gzip" in request.headers.get("accept-encoding", "")
        if p.host_wide:  # encoded once per change the bus saw and per second (uptimes)
            key = (position, int(time.time()))
            if listed["key"] != key:
                listed.update(body=_encode(ctx.view.rows()), key=key, gzip=None)
            body: bytes = listed["body"]
            if packed:
                listed["gzip"] = listed["gzip"] or _gzip(body)
                body = listed["gzip"]
        else:
            body = _encode(ctx.view.rows(p.sees))
            body = _gzip(body) if packed else body
        headers = {"x-event-id": str(position), "vary": "Accept-Encoding"}
        if packed:
            headers["content-encoding"] = "gzip"
        return Response(body, media_type="application/json", headers=headers)

    @app.get(
        f"{BASE}/instances/{{instance_id}}", response_model=schemas.InstanceDetail,
        tags=["instances"],
    )  # fmt: skip
    def instance(instance_id: str, p: Principal = read) -> Any:
        from .view import detail

        return JSONResponse(detail(ctx.tracked(instance_id)))

    @app.post(
        f"{BASE}/instances", status_code=202, response_model=schemas.Accepted, tags=["instances"]
    )
    async def create(body: schemas.NewInstance, p: Principal = host_admin) -> Any:
        """Create an instance of an app (installing it if needed): an operation."""
        p.require_host(Scope.ADMIN)
        iid = _new_id(ctx, body.instance_id)
        await ctx.run("apps", Args(app=body.app))  # an unknown app: 404 now, not later
        args = Args(
            app=body.app, instance_name=body.name, instance_id=parse_id(iid),
            port=_ports(body.ports), dir=body.dir, env=[f"{k}={v}" for k, v in body.env.items()],
            cpu_quota=body.cpu_quota, memory_max=body.memory_max, tasks_max=body.tasks_max,
            cpu_affinity=body.cpu_affinity,
        )  # fmt: skip
        op = ctx.ops.submit("create", args, iid, who(p))
        return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)

    @app.post(
        f"{BASE}/instances/{{instance_id}}/clone", status_code=202,
        response_model=schemas.Accepted, tags=["instances"],
    )  # fmt: skip
    async def clone(instance_id: str, body: schemas.CloneOf, p: Principal = admin) -> Any:
        """A new instance with a copy of this one's saves, limits and env: an operation."""
        p.require_host(Scope.ADMIN)
        source = ctx.instance_id(instance_id)
        iid = _new_id(ctx, body.instance_id)
        args = Args(
            instance=source, instance_name=body.name, instance_id=parse_id(iid),
            port=_ports(body.ports), dir=body.dir,
        )  # fmt: skip
        op = ctx.ops.submit("clone", args, iid, who(p))
        return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)

    @app.delete(
        f"{BASE}/instances/{{instance_id}}", response_model=schemas.Done, tags=["instances"]
    )
    async def delete(instance_id: str, purge: bool = False, p: Principal = admin) -> Any:
        """Stop and delete the instance (purge: its data and its user too)."""
        iid = ctx.instance_id(instance_id)
        return await ctx.change("delete", Args(instance=iid, yes=True, purge=purge), iid, p)

    for verb, action in ACTIONS.items():
        _action(app, ctx, verb, action)

    @app.get(f"{BASE}/instances/{{instance_id}}/settings", tags=["settings"])
    async def settings(instance_id: str, p: Principal = read) -> list[dict[str, Any]]:
        """The game's settings, read from its own files (get-configs)."""
        outcome = await ctx.run("get-configs", Args(instance=ctx.instance_id(instance_id)))
        rows: list[dict[str, Any]] = outcome.data
        return rows

    @app.put(
        f"{BASE}/instances/{{instance_id}}/settings/{{option}}", response_model=schemas.Done,
        tags=["settings"],
    )  # fmt: skip
    async def set_setting(
        instance_id: str, option: str, body: schemas.SettingValue, p: Principal = operate
    ) -> Any:
        """Change one setting, checked as set-config checks it; a restart applies it."""
        iid = ctx.instance_id(instance_id)
        value = body.value
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return await ctx.change("set-config", Args(instance=iid, setting=[option, text]), iid, p)

    @app.post(
        f"{BASE}/instances/{{instance_id}}/console", response_model=schemas.Done,
        tags=["instances"],
    )  # fmt: skip
    async def console(
        instance_id: str, body: schemas.ConsoleCommand, p: Principal = operate
    ) -> Any:
        """A console command to the game; its reply where the game gives one (rcon)."""
        iid = ctx.instance_id(instance_id)
        outcome = await ctx.run("cmd", Args(instance=iid, text=body.command))
        return done("cmd", outcome, iid)


def _action(app: FastAPI, ctx: Context, verb: str, action: Action) -> None:
    model = options_model(verb, action.fields)
    allowed = Depends(ctx.auth.require(action.scope))

    async def act(instance_id: str, p: Principal, body: Any = None) -> Any:
        iid = ctx.instance_id(instance_id)
        given = {
            k: v for k, v in (body.dict() if body is not None else {}).items() if v is not None
        }
        args = Args(instance=iid, **given)
        if action.long:
            op = ctx.ops.submit(verb, args, iid, who(p))
            return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)
        outcome = await ctx.run(verb, args)
        # the daemon takes in systemd's signals of this change before the answer goes: the
        # next listing shows the instance as the action left it
        await asyncio.get_running_loop().run_in_executor(ctx.workers, ctx.view.refresh)
        return done(verb, outcome, iid)

    params = [
        inspect.Parameter("instance_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        inspect.Parameter("p", inspect.Parameter.KEYWORD_ONLY, default=allowed,
                          annotation=Principal),
    ]  # fmt: skip
    if model is not None:
        default = BodyParam(None)
        params.append(
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=Optional[model])  # noqa: UP045 (pydantic 1)
        )  # fmt: skip
    act.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    act.__name__ = act.__qualname__ = verb.replace("-", "_")
    act.__doc__ = COMMANDS[verb].help
    app.post(
        f"{BASE}/instances/{{instance_id}}/{verb}",
        status_code=202 if action.long else 200,
        response_model=schemas.Accepted if action.long else schemas.Done,
        tags=["actions"],
    )(act)
