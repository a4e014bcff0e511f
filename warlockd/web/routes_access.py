"""Who may call, and the rest of what the API serves: the dashboard's login, logout and
session; API keys and users (the table's `api-key` and `user`, admins of the whole host
only); the apps (`apps`); operations under way; the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..actions import Args
from ..errors import NotFound
from . import schemas
from .app import BASE, Context
from .principal import Principal, Scope


def _user(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "stamp"}  # the sessions' check, not news


def add(app: FastAPI, ctx: Context) -> None:
    read = Depends(ctx.auth.require(Scope.READ, instance_param=None))
    admin = Depends(ctx.auth.require(Scope.ADMIN, instance_param=None))

    @app.post(f"{BASE}/login", response_model=schemas.LoggedIn, tags=["session"])
    def login(request: Request, body: schemas.Login) -> Any:
        """Start a dashboard session: an HttpOnly, SameSite=Strict cookie (Secure under TLS)
        and the CSRF token every state-changing request of the session must carry
        (X-CSRF-Token). Failed attempts are slowed down, per address and per user name."""
        return ctx.auth.login(request, body.name, body.password)

    @app.post(f"{BASE}/login/key", response_model=schemas.LoggedIn, tags=["session"])
    def login_key(request: Request, body: schemas.KeyLogin) -> Any:
        """Start a dashboard session with an API key instead of a user: the key's scope and
        instances; revoking the key ends it. Rate-limited as logins are."""
        return ctx.auth.login_key(request, body.key)

    @app.post(f"{BASE}/logout", tags=["session"])
    def logout(request: Request) -> Any:
        """End the session (with its X-CSRF-Token)."""
        return ctx.auth.logout(request)

    @app.get(f"{BASE}/session", response_model=schemas.Session, tags=["session"])
    def session(request: Request) -> Any:
        """Who is calling, with the session's CSRF token."""
        return ctx.auth.session_info(request)

    @app.get(f"{BASE}/keys", response_model=list[schemas.ApiKey], tags=["access"])
    async def keys(p: Principal = admin) -> Any:
        p.require_host(Scope.ADMIN)
        return (await ctx.run("api-key", Args(action="list"))).data

    @app.post(f"{BASE}/keys", status_code=201, response_model=schemas.NewApiKey, tags=["access"])
    async def new_key(body: schemas.NewKey, p: Principal = admin) -> Any:
        """A new API key; its text (`key`) is in this answer only."""
        p.require_host(Scope.ADMIN)
        args = Args(action="create", instance_name=body.name, scope=body.scope,
                    only=body.instances or ())  # fmt: skip
        return JSONResponse((await ctx.run("api-key", args)).data, 201)

    @app.delete(f"{BASE}/keys/{{name}}", response_model=schemas.ApiKey, tags=["access"])
    async def revoke_key(name: str, p: Principal = admin) -> Any:
        """Revoke a key by its name or id: at once, streams made with it end too."""
        p.require_host(Scope.ADMIN)
        return (await ctx.run("api-key", Args(action="revoke", instance_name=name))).data

    @app.get(f"{BASE}/users", response_model=list[schemas.User], tags=["access"])
    async def users(p: Principal = admin) -> Any:
        p.require_host(Scope.ADMIN)
        return [_user(u) for u in (await ctx.run("user", Args(action="list"))).data]

    @app.post(f"{BASE}/users", status_code=201, response_model=schemas.User, tags=["access"])
    async def new_user(body: schemas.NewUser, p: Principal = admin) -> Any:
        p.require_host(Scope.ADMIN)
        args = Args(action="add", instance_name=body.name, password=body.password,
                    scope=body.scope, only=body.instances or ())  # fmt: skip
        return JSONResponse(_user((await ctx.run("user", args)).data), 201)

    @app.put(f"{BASE}/users/{{name}}/password", response_model=schemas.User, tags=["access"])
    async def set_password(name: str, body: schemas.NewPassword, p: Principal = admin) -> Any:
        """A new password: the user's sessions end."""
        p.require_host(Scope.ADMIN)
        args = Args(action="passwd", instance_name=name, password=body.password)
        return _user((await ctx.run("user", args)).data)

    @app.delete(f"{BASE}/users/{{name}}", response_model=schemas.User, tags=["access"])
    async def remove_user(name: str, p: Principal = admin) -> Any:
        """Remove a user: their sessions end."""
        p.require_host(Scope.ADMIN)
        return _user((await ctx.run("user", Args(action="remove", instance_name=name))).data)

    @app.get(f"{BASE}/apps", tags=["apps"])
    async def apps(p: Principal = read) -> list[dict[str, Any]]:
        """The games this host can run: ports, players, query, console, settings."""
        rows: list[dict[str, Any]] = (await ctx.run("apps", Args())).data
        return rows

    @app.get(f"{BASE}/apps/{{app}}", tags=["apps"])
    async def one_app(app: str, p: Principal = read) -> dict[str, Any]:
        found: list[dict[str, Any]] = (await ctx.run("apps", Args(app=app))).data
        return found[0]

    @app.get(f"{BASE}/apps/{{app}}/ports", tags=["apps"])
    async def free_ports(app: str, p: Principal = admin) -> dict[str, int]:
        """The ports a new instance of this app would get now (a create allocates again)."""
        from ..actions.create import preview_ports

        p.require_host(Scope.ADMIN)
        await ctx.run("apps", Args(app=app))  # an unknown app: the table's 404
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            ctx.workers, lambda: preview_ports(ctx.host.for_thread(), app)
        )

    @app.get(f"{BASE}/operations", response_model=list[schemas.Operation], tags=["operations"])
    async def operations(p: Principal = read) -> Any:
        """The operations kept (the newest 256) that the caller may see, oldest first."""
        return [ctx.ops.snapshot(o) for o in ctx.ops.all() if o.visible_to(p)]

    @app.get(
        f"{BASE}/operations/{{operation_id}}", response_model=schemas.Operation,
        tags=["operations"],
    )  # fmt: skip
    async def operation(operation_id: str, p: Principal = read) -> Any:
        op = ctx.ops.get(operation_id)
        if op is None or not op.visible_to(p):
            raise NotFound(f"no operation {operation_id[:40]!r}", hint="the newest 256 are kept")
        return ctx.ops.snapshot(op)

    @app.get(f"{BASE}/openapi.json", include_in_schema=False)
    async def openapi(p: Principal = read) -> Any:
        return JSONResponse(app.openapi())
