"""Starlette/FastAPI glue: who is calling, may they, and the record of what they changed.

- `Authorization: Bearer wlk_...` is an API key (keys.py); a request with that header is
  judged by it alone (a wrong key is 401, never a fallback to a cookie). Keys are exempt from
  CSRF checks: browsers never add that header on their own.
- Otherwise the session cookie (sessions.py). A state-changing request (any method but GET,
  HEAD, OPTIONS) made with it must carry `X-CSRF-Token` matching the session's, and must not
  come from another site by its Sec-Fetch-Site or Origin headers (defence in depth over
  SameSite=Strict, which other sites on the same host name, such as a game's web page on
  another port, do not trip).
- Errors are JSON {"error": ..., "hint": ...}: 401 (with WWW-Authenticate: Bearer), 403, 404
  (an instance outside the principal's list, worded as for a missing one), 429 (Retry-After).
- AuditMiddleware hands every state-changing request, refused ones included, to a callback
  with who made it, for the event log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from ..errors import WarlockError
from .errors import body_of, headers_of, status_of
from .keys import KeyStore, parse_key
from .principal import Forbidden, Principal, Scope, Unauthorized
from .ratelimit import LoginLimiter
from .sessions import (
    Session,
    SessionStore,
    clear_cookie,
    cookie_name,
    csrf_ok,
    csrf_token,
    session_cookie,
)
from .users import UserStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
KEY_SESSION = "key:"  # a session's user when an API key logged in (user names have no ':')
_SAME_SITE_OK = frozenset({"same-origin", "none"})  # none: typed in the address bar


def error_response(exc: WarlockError) -> JSONResponse:
    """The JSON answer for an error (the table of statuses is in errors.py)."""
    return JSONResponse(body_of(exc), status_of(exc), headers_of(exc))


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WarlockError)
    return error_response(exc)


def client_address(request: Request) -> str:
    """The peer's address. Behind a reverse proxy every login shares the proxy's: the proxy
    must then limit logins itself (X-Forwarded-For is not trusted here)."""
    return request.client.host if request.client else "unknown"


class Auth:
    def __init__(
        self,
        keys: KeyStore,
        users: UserStore,
        sessions: SessionStore,
        limiter: LoginLimiter,
        *,
        tls: bool,
        origins: Iterable[str] = (),
    ) -> None:
        """`origins`: origins besides the API's own (scheme://host[:port]) that may send
        state-changing requests with a session, e.g. the address a reverse proxy serves."""
        self.keys, self.users, self.sessions, self.limiter = keys, users, sessions, limiter
        self.tls = tls
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.cookie = cookie_name(tls)

    # -- authentication --------------------------------------------------------------------
    def authenticate(self, request: Request) -> Principal:
        """The caller, or Unauthorized / Forbidden. Noted in request.state for the audit."""
        header = request.headers.get("authorization")
        p = self._bearer(request, header) if header is not None else self._session(request)
        request.state.principal = p
        return p

    def _bearer(self, request: Request, header: str) -> Principal:
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized(
                "the Authorization header is not `Bearer <API key>`",
                hint="Authorization: Bearer wlk_...",
            )
        request.state.claimed = f"key-id:{parse_key(key) or 'malformed'}"
        p = self.keys.verify(key)
        if p is None:
            raise Unauthorized(
                "invalid, unknown or revoked API key",
                hint="`warlock api-key list` shows the active keys; a key is shown only when made",
            )
        return p

    def _session(self, request: Request) -> Principal:
        token = request.cookies.get(self.cookie)
        if not token:
            raise Unauthorized(
                "authentication required",
                hint="send Authorization: Bearer <API key>, or log in to the dashboard",
            )
        session = self.sessions.get(token)
        p = self._holder(session) if session else None
        if session is None or p is None:
            if session is not None:  # the user or key went away, or the password changed
                self.sessions.destroy(token)
            raise Unauthorized("the session has expired or ended", hint="log in again")
        request.state.claimed, request.state.session = p.who, True
        if request.method not in SAFE_METHODS:
            self.check_same_site(request)
            if not csrf_ok(token, request.headers.get(CSRF_HEADER)):
                raise Forbidden(
                    f"missing or wrong {CSRF_HEADER} header",
                    hint="send the csrf_token that login or GET /api/session returned",
                )
        return p

    def _holder(self, session: Session) -> Principal | None:
        """Who a live session speaks for: its user (with the password it logged in with),
        or the API key it logged in with while the key is not revoked."""
        if session.user.startswith(KEY_SESSION):
            key = self.keys.active(session.user.removeprefix(KEY_SESSION))
            return key.principal() if key is not None else None
        user = self.users.get(session.user)
        return user.principal() if user is not None and user.stamp == session.stamp else None

    def check_same_site(self, request: Request) -> None:
        """Refuse a request that the browser says comes from another site."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site.lower() not in _SAME_SITE_OK:
            raise Forbidden(f"cross-site request refused (Sec-Fetch-Site: {site[:20]})")
        origin = request.headers.get("origin")
        if origin is None:
            return
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        if origin.rstrip("/").lower() not in self.origins | {own}:
            raise Forbidden(
                f"cross-site request refused (Origin: {origin[:100]})",
                hint="a reverse proxy's address must be listed in the [api] origins setting",
            )

    def require(
        self, needed: Scope, *, instance_param: str | None = "instance_id"
    ) -> Callable[[Request], Principal]:
        """A FastAPI dependency: Depends(auth.require(Scope.OPERATE)). It is a plain function,
        so FastAPI runs it in its thread pool (it may stat and write the key file)."""

        def dependency(request: Request) -> Principal:
            p = self.authenticate(request)
            instance = request.path_params.get(instance_param) if instance_param else None
            p.require(needed, None if instance is None else str(instance))
            return p

        return dependency

    # -- the dashboard's login -------------------------------------------------------------
    def login(self, request: Request, name: str, password: str) -> JSONResponse:
        """Check the password (rate-limited), start a session, set its cookie. Slow on
        purpose (argon2): call it from a plain `def` route, which runs in the thread pool."""
        self.check_same_site(request)  # no logging a victim into the attacker's account
        address, name = client_address(request), str(name).strip().lower()[:64]
        request.state.claimed = f"user:{name}"
        self.limiter.attempt(address, name)
        user = self.users.verify(name, str(password))
        if user is None:
            raise Unauthorized("wrong user name or password")
        self.limiter.succeeded(address, name)
        self.sessions.destroy(request.cookies.get(self.cookie))  # a new token at each login
        _, token = self.sessions.create(user.name, user.stamp, address)
        request.state.principal = user.principal()
        return self._started(token, user.name, str(user.scope))

    def login_key(self, request: Request, key: str) -> JSONResponse:
        """A dashboard session for an API key (a browser's EventSource cannot send the
        Authorization header): the key's scope and instances, ended by revoking the key."""
        self.check_same_site(request)
        address = client_address(request)
        key_id = parse_key(str(key)) or "malformed"
        request.state.claimed = f"key-id:{key_id}"
        self.limiter.attempt(address, f"{KEY_SESSION}{key_id}")
        p = self.keys.verify(str(key))
        if p is None or p.key_id is None:
            raise Unauthorized("invalid, unknown or revoked API key")
        self.limiter.succeeded(address, f"{KEY_SESSION}{key_id}")
        self.sessions.destroy(request.cookies.get(self.cookie))
        _, token = self.sessions.create(f"{KEY_SESSION}{p.key_id}", "key", address)
        request.state.principal = p
        return self._started(token, p.who, str(p.scope))

    def _started(self, token: str, who: str, scope: str) -> JSONResponse:
        body = {"user": who, "scope": scope, "csrf_token": csrf_token(token)}
        response = JSONResponse(body)
        response.headers.append("set-cookie", session_cookie(token, tls=self.tls))
        response.headers["cache-control"] = "no-store"
        return response

    def logout(self, request: Request) -> JSONResponse:
        """End the session (an authenticated, CSRF-checked request) and expire the cookie."""
        self.authenticate(request)
        self.sessions.destroy(request.cookies.get(self.cookie))
        response = JSONResponse({"logged_out": True})
        response.headers.append("set-cookie", clear_cookie(tls=self.tls))
        return response

    def session_info(self, request: Request) -> dict[str, Any]:
        """For GET /api/session: who is logged in, and the CSRF token for the page's script."""
        p = self.authenticate(request)
        token = request.cookies.get(self.cookie)
        via_session = getattr(request.state, "session", False)
        csrf = csrf_token(token) if token and via_session else None
        return {"who": p.who, "scope": str(p.scope), "csrf_token": csrf}


# -- the event log ---------------------------------------------------------------------------
class AuditEntry(NamedTuple):
    ts: float
    who: str  # "key:<name>", "user:<name>", or "anonymous" when refused before knowing
    key_id: str | None
    claimed: str | None  # who the refused caller claimed to be: "user:bob", "key-id:<id>"
    method: str
    path: str
    status: int
    address: str
    instance_id: str | None


class AuditMiddleware:
    """Outermost of the app's own middleware: sees the status after the error handlers."""

    def __init__(
        self,
        app: ASGIApp,
        record: Callable[[AuditEntry], None],
        instance_param: str = "instance_id",
    ) -> None:
        self.app, self.record, self.instance_param = app, record, instance_param

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict request.state writes into
        status = 500  # unless a response starts

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            p: Principal | None = state.get("principal")
            instance = scope.get("path_params", {}).get(self.instance_param)
            client = scope.get("client")
            entry = AuditEntry(
                ts=time.time(),
                who=p.who if p else "anonymous",
                key_id=p.key_id if p else None,
                claimed=state.get("claimed"),
                method=scope["method"],
                path=scope["path"],
                status=status,
                address=client[0] if client else "unknown",
                instance_id=None if instance is None else str(instance),
            )
            try:
                await run_in_threadpool(self.record, entry)
            except Exception as e:  # the response is gone already: say so, don't crash
                sys.stderr.write(f"warning: request not recorded in the event log: {e!r}\n")


def install(app: Any, record: Callable[[AuditEntry], None] | None = None) -> None:
    """JSON errors for every WarlockError, and the audit of state-changing requests."""
    app.add_exception_handler(WarlockError, _handle)
    if record is not None:
        app.add_middleware(AuditMiddleware, record=record)
