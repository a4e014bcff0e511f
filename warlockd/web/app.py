"""The HTTP API as one FastAPI application: what every route shares (the Context, running a
command of the table, the instance id checked at the boundary), the error answers, the
middleware, and the routes of routes_*.py put together.

A request goes: uvicorn (server.py; GuardedH11 times its headers) → AuditMiddleware (the
event log records every state-changing request, refused ones too) → Limits (body size and
time, guards.py) → the route: Auth (auth.py) says who calls and whether they may; the
instance id is parsed with model.parse_id here, once (404 for one the caller may not see,
422 for one that is no id) → queries read the daemon's in-memory view (view.py); actions
call the table (commands.call) on worker threads, each on a Host of its own, or hand it to
operations.py when they take long → JSON, or an error as errors.py says.

Why FastAPI (0.92 with Starlette 0.26 and uvicorn 0.17, from Debian): the OpenAPI document
comes from the routes' own types (one source, no drift), request bodies are checked by
pydantic before any code of ours runs, Starlette streams Server-Sent Events, and all of it
is maintained in Debian bookworm. aiohttp (also in Debian) would have meant writing the
schema and the checks by hand.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from ..actions import Args, Outcome
from ..commands import call
from ..errors import InvalidInput, WarlockError
from ..host import Host
from ..model import InstanceId, parse_id
from .auth import AuditEntry, Auth, error_response, install
from .errors import Malformed, TooLarge
from .guards import Limits
from .operations import Operations
from .principal import Principal, no_instance
from .schemas import Error
from .settings import ApiSettings
from .sse import RECHECK, Bus, Slots
from .view import DaemonView

if TYPE_CHECKING:
    from ..daemon.state import Tracked

BASE = "/api/v1"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": what}
    for status, what in (
        (400, "The command refused what it was given"),
        (401, "No credentials, or wrong ones"),
        (403, "Not allowed: the scope is too low, or a cross-site request"),
        (404, "No such resource, or one the caller may not see"),
        (405, "No such method on that path (a `/` in a name makes another path)"),
        (408, "The request's headers or body came too slowly"),
        (409, "Not possible in the current state"),
        (413, "The body is over the limit"),
        (422, "The request does not parse"),
        (429, "Too many attempts (Retry-After)"),
        (502, "systemd, or a program warlockd ran, failed at it"),
        (503, "Too many streams or operations (Retry-After)"),
    )
}


class Context(NamedTuple):
    """What the routes share; built by server.py (or a test) around one daemon."""

    host: Host
    view: DaemonView
    bus: Bus
    ops: Operations
    auth: Auth
    slots: Slots
    settings: ApiSettings
    workers: ThreadPoolExecutor  # where commands that answer at once run
    record: Callable[[AuditEntry], None] | None = None  # the event log of requests
    recheck: float = RECHECK  # seconds between checks of a stream's credentials

    async def run(self, command: str, args: Args) -> Outcome:
        """A command of the table, on a worker thread with a Host of its own."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.workers, lambda: call(self.host.for_thread(), command, args)
        )

    async def change(
        self, command: str, args: Args, instance_id: str | None, p: Principal
    ) -> dict[str, Any]:
        """A command that changes the host, waited for (operations.py runs it)."""
        loop = asyncio.get_running_loop()
        op = await loop.run_in_executor(
            self.workers, self.ops.run_now, command, args, instance_id, who(p)
        )
        return {"command": command, "instance_id": instance_id, "data": op.result,
                "notes": list(op.notes), "operation": op.id}  # fmt: skip

    def instance_id(self, raw: str) -> InstanceId:
        """The id in a path, checked (422 when it is no id) and known (404)."""
        try:
            iid = parse_id(raw)
        except InvalidInput as e:
            raise Malformed(e.message, e.hint) from None
        if self.view.get(iid) is None:
            raise no_instance(raw)
        return iid

    def tracked(self, raw: str) -> Tracked:
        t = self.view.get(self.instance_id(raw))
        if t is None:  # gone between the two looks
            raise no_instance(raw)
        return t


def done(command: str, outcome: Outcome, instance_id: str | None) -> dict[str, Any]:
    return {
        "command": command,
        "instance_id": instance_id,
        "data": outcome.data,
        "notes": list(outcome.notes),
    }


def who(p: Principal) -> str:
    return p.who if p.key_id is None else f"{p.who} ({p.key_id})"


async def _warlock_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WarlockError)
    response = error_response(exc)
    if isinstance(exc, TooLarge):
        response.headers["connection"] = "close"
    return response


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = jsonable_encoder(exc.errors())
    first = detail[0] if detail else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    text = f"{where}: {first.get('msg', 'invalid')}" if where else "the request is invalid"
    hint = f"see {BASE}/openapi.json for what this route takes"
    return JSONResponse({"error": text, "hint": hint, "detail": detail}, 422)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = exc.detail if isinstance(exc.detail, str) else "request refused"
    hint = (
        f"the routes are listed in {BASE}/openapi.json" if exc.status_code in (404, 405) else None
    )
    if exc.status_code == 404:
        text = f"no such resource: {request.method} {request.url.path[:200]}"
    headers = dict(exc.headers or {})
    return JSONResponse({"error": text, "hint": hint}, exc.status_code, headers)


async def _internal(request: Request, exc: Exception) -> Response:
    sys.stderr.write(f"error: {request.method} {request.url.path}: {exc!r}\n")
    body = {"error": f"internal error: {type(exc).__name__}", "hint": "see journalctl -u warlockd"}
    return JSONResponse(body, 500)


def build(ctx: Context) -> FastAPI:
    from . import (
        routes_access,
        routes_backups,
        routes_instances,
        routes_observe,
        routes_pages,
        routes_schedules,
    )

    app = FastAPI(
        title="warlockd",
        version=__version__,
        description="Game-server instances as systemd units: every instance and action.",
        openapi_url=None,  # served by routes_access, behind a key
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
    )
    app.router.redirect_slashes = False  # /apps/ is not /apps: a 404, not a redirect
    app.add_middleware(
        Limits,
        max_body=ctx.settings.max_body_kb * 1024,
        timeout=ctx.settings.request_timeout,
        tls=ctx.auth.tls,
    )
    install(app, ctx.record)  # the audit goes outermost: it sees every answer's status
    app.add_exception_handler(WarlockError, _warlock_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)
    for module in (routes_instances, routes_backups, routes_schedules, routes_observe,
                   routes_access):  # fmt: skip
        module.add(app, ctx)
    routes_pages.add(app)  # the dashboard: no credentials needed to fetch its files
    return app
