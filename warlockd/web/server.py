"""The HTTP API inside warlockd.service: uvicorn on a thread of its own, fed by the daemon.

Why a thread of warlockd.service and not a unit beside it: the API answers from the
daemon's memory (its view of every instance, its last samples) and streams what the daemon
hears from systemd the moment it hears it; a second process would need both copied to it
over some channel, and would be one more privileged process to secure. The loop thread is
never blocked by the API: it only publishes onto the event bus (sse.py), and the API only
reads what the loop replaces.

The daemon calls reconcile() at start and after each reload of its configuration: the
server starts, restarts with new [api] settings, or stops when turned off. A failure (a
bind beyond loopback without TLS, a port in use, a bad certificate, a missing Debian
package) is logged and the daemon goes on watching every instance without an API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, WarlockError
from ..model import parse_id
from ..store import Event, Sample
from . import WebFiles
from .settings import ApiSettings

if TYPE_CHECKING:
    from ..daemon.loop import Daemon
    from ..daemon.state import Tracked
    from .auth import AuditEntry

FLUSH_EVERY = 60.0  # keys' last use and sessions' idle times reach the disk this often
ANONYMOUS = 30  # refusals of callers without valid credentials recorded one by one, a minute
MISSING = "apt-get install python3-fastapi python3-uvicorn python3-argon2"


def _log(message: str) -> None:
    from ..daemon.state import log

    log(message)


class WebServer:
    def __init__(self, daemon: Daemon, settings: ApiSettings, recheck: float = 5.0) -> None:
        from .sse import Bus
        from .view import DaemonView

        self.daemon, self.settings, self.recheck = daemon, settings, recheck
        self.bus = Bus()
        self.view = DaemonView(daemon)
        self.url = ""
        self.fingerprint: str | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._ctx: Any = None
        self._anonymous = _Budget(ANONYMOUS, 60.0)

    # -- the daemon's hooks (its loop thread) ---------------------------------------------
    def state(self, t: Tracked) -> None:
        from .view import row

        self.bus.publish("state", t.inst.id, row(t))

    def removed(self, instance_id: str) -> None:
        self.view.latest.pop(instance_id, None)
        self.bus.publish("removed", instance_id, {"instance_id": instance_id})

    def samples(self, rows: list[Sample]) -> None:
        import json

        from .view import sample

        self.view.latest.update((r.instance_id, r) for r in rows)  # some, or all of them
        encoded: list[tuple[str, str | None, str]] = [
            ("sample", r.instance_id, json.dumps(sample(r), separators=(",", ":"))) for r in rows
        ]
        with contextlib.suppress(OSError, ValueError, IndexError):  # a /proc we cannot read
            encoded.append(("host", None, json.dumps(self.view.host.read())))
        self.bus.publish_many(encoded)

    def event(self, ev: Event) -> None:
        data = {"id": ev.id, "ts": ev.ts, "kind": ev.kind, "instance_id": ev.instance_id,
                "message": ev.message, "data": ev.data}  # fmt: skip
        self.bus.publish("event", ev.instance_id, data)

    def record(self, entry: AuditEntry) -> None:
        """A state-changing request, for the event log (kind `api`), with who made it.
        Refusals of callers without valid credentials are recorded up to ANONYMOUS per
        minute; past that they are counted, and the count recorded once the minute is up
        (a flood of junk requests must not flood the log and the database)."""
        if entry.who == "anonymous" and not self._anonymous.allow(entry.ts):
            return
        dropped = self._anonymous.take_dropped()
        if dropped:
            self.daemon.event("api", None, f"{dropped} more refused requests without valid "
                              "credentials were not recorded one by one")  # fmt: skip
        inst = None
        if entry.instance_id is not None:
            with contextlib.suppress(InvalidInput):
                t = self.daemon.tracked.get(parse_id(entry.instance_id))
                inst = t.inst if t is not None else None
        data = entry._asdict()
        data.pop("ts")
        path = entry.path[:200].encode("unicode_escape").decode()  # no line of its own
        message = f"{entry.who} {entry.method} {path} -> {entry.status}"
        self.daemon.event("api", inst, message, **data)

    # -- starting and stopping ------------------------------------------------------------
    def app(self, tls: bool = False, users: Any = None, runner: Any = None) -> Any:
        """The FastAPI application over this daemon (what start() serves; tests call it,
        with an in-process runner: the in-memory systemd runs no units)."""
        from .app import Context, build
        from .auth import Auth
        from .keys import KeyStore
        from .operations import Operations, Transient
        from .ratelimit import LoginLimiter
        from .routes_instances import CHANGES_REGISTRY
        from .sessions import SessionStore
        from .sse import Slots
        from .users import UserStore

        s, files = self.settings, WebFiles.under(self.daemon.host.paths.state)
        auth = Auth(
            KeyStore(files.api_keys), users or UserStore(files.users),
            SessionStore(files.sessions), LoginLimiter(), tls=tls, origins=s.origins,
        )  # fmt: skip

        def after(op: Any) -> None:
            if op.command in CHANGES_REGISTRY:
                self.view.refresh()

        ops = Operations(
            self.bus, runner or Transient(self.daemon.host), after=after, store=files.operations
        )
        ops.recover()
        self._ctx = Context(
            self.daemon.host, self.view, self.bus, ops, auth,
            Slots(s.max_streams, s.max_streams_per_client), s,
            ThreadPoolExecutor(8, "warlock-api"), self.record, self.recheck,
        )  # fmt: skip
        return build(self._ctx)

    def start(self) -> None:
        """Listen, or raise WarlockError (OSError for a port in use)."""
        import uvicorn  # type: ignore[import-untyped]

        from .guards import guarded_protocol
        from .tls import check_listen, ensure_self_signed, is_loopback

        s, files = self.settings, WebFiles.under(self.daemon.host.paths.state)
        cert, key = s.tls_cert, s.tls_key
        if s.tls_self_signed:
            names = [] if is_loopback(s.listen) or s.listen in ("0.0.0.0", "::") else [s.listen]
            cert, key, self.fingerprint = ensure_self_signed(files.tls, names)
        listen = check_listen(s.listen, s.port, cert, key)
        config = uvicorn.Config(
            self.app(tls=listen.tls), http=guarded_protocol(s.request_timeout), lifespan="off",
            log_config=None, access_log=False, timeout_keep_alive=5,
            limit_concurrency=s.max_streams + 64, server_header=False,
            ssl_certfile=str(listen.cert) if listen.cert else None,
            ssl_keyfile=str(listen.key) if listen.key else None,
            ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL",
        )  # fmt: skip
        config.load()  # a bad certificate fails here, not in the thread
        sock = _bind(listen.host, listen.port)
        self._server = _server_class(uvicorn.Server)(config)
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sock, started), name="warlock-http", daemon=True
        )
        self._thread.start()
        if not started.wait(10):
            raise WarlockError("the HTTP API did not start within 10 s")
        self.url = listen.url()

    def _run(self, sock: socket.socket, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.bus.attach(loop)
        flush = loop.create_task(self._flush_every(FLUSH_EVERY))
        loop.call_soon(started.set)
        try:
            loop.run_until_complete(self._server.serve(sockets=[sock]))
        finally:
            flush.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(flush, return_exceptions=True))
            self.bus.attach(None)
            loop.close()
            sock.close()

    async def _flush_every(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(seconds)
            await loop.run_in_executor(None, self.flush)

    def flush(self) -> None:
        if self._ctx is not None:
            with contextlib.suppress(Exception):
                self._ctx.auth.keys.flush()
                self._ctx.auth.sessions.flush()

    def stop(self) -> None:
        """Streams end, requests under way finish (5 s at most), state reaches the disk."""
        self.bus.close()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5)
        if self._ctx is not None:
            self._ctx.ops.shutdown()
            self._ctx.workers.shutdown(wait=False, cancel_futures=True)
        self.flush()


class _Budget:
    """At most `count` a `window`; what is over is counted (thread-safe)."""

    def __init__(self, count: int, window: float) -> None:
        self.count, self.window = count, window
        self._start, self._used, self._dropped = 0.0, 0, 0
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        with self._lock:
            if now - self._start >= self.window:
                self._start, self._used = now, 0
            self._used += 1
            if self._used > self.count:
                self._dropped += 1
                return False
            return True

    def take_dropped(self) -> int:
        with self._lock:
            if self._used > self.count:
                return 0  # still over: counted at the end of the window
            dropped, self._dropped = self._dropped, 0
            return dropped


def _server_class(base: Any) -> Any:
    """uvicorn's Server, looking at its exit flag once a second instead of ten times (the
    Date header it refreshes is per second anyway): an idle API costs next to nothing."""

    class Server(base):  # type: ignore[misc]
        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000  # on_tick refreshes the Date at % 10
                await asyncio.sleep(1.0)

    return Server


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket. Made with IPPROTO_TCP spelled out: asyncio turns Nagle's
    algorithm off only for sockets whose proto says TCP, and with it on, every answer on a
    kept-alive connection waited 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def reconcile(daemon: Daemon, current: WebServer | None) -> WebServer | None:
    """The server the configuration asks for: kept, restarted, started or stopped."""
    wanted = daemon.config.api
    if current is not None and current.settings == wanted:
        return current
    if current is not None:
        current.stop()
        _log("HTTP API stopped")
    if not wanted.enabled:
        return None
    try:
        import argon2  # type: ignore[import-untyped]  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        _log(f"warning: no HTTP API: the Python module {e.name} is missing (hint: {MISSING})")
        return None
    server = WebServer(daemon, wanted)
    began = time.monotonic()
    try:
        server.start()
    except (WarlockError, OSError) as e:
        server.stop()
        hint = f" (hint: {e.hint})" if isinstance(e, WarlockError) and e.hint else ""
        _log(f"error: no HTTP API: {e.message if isinstance(e, WarlockError) else e}{hint}")
        return None
    pin = f"; certificate SHA-256 {server.fingerprint}" if server.fingerprint else ""
    _log(f"HTTP API on {server.url} (started in {time.monotonic() - began:.2f} s){pin}")
    return server
