"""What is observed: the metrics history (downsampled), the event log, an instance's
journal, the live streams (Server-Sent Events: the bus, or one instance's journal) and
Prometheus' /metrics (the gauges of the textfile, from the daemon's last sample)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Header, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse

from ..actions import Args
from ..actions.metrics import parse_since
from ..errors import InvalidInput
from ..model import InstanceId
from . import journal, schemas
from .app import BASE, Context
from .errors import Malformed
from .principal import Principal, Scope
from .sse import Entry, EventStream, bus_frames

KINDS = ("state", "removed", "sample", "event", "operation", "host")
ANY_KIND = Query([], description="only these kinds (repeatable)")
_NUMBERS = ("cpu_percent", "memory_bytes", "tasks", "disk_bytes")


def downsample(rows: list[dict[str, Any]], start: float, end: float, points: int) -> tuple[
    float, list[dict[str, Any]]
]:  # fmt: skip
    """At most `points` points over [start, end]: each the mean of the samples in its span
    (players and slots: the peak; status: the last one), stamped with its first sample."""
    step = max(1.0, (end - start) / max(1, points))
    buckets: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        buckets.setdefault(int((r["ts"] - start) // step), []).append(r)
    out = []
    for _, group in sorted(buckets.items()):
        point: dict[str, Any] = {"ts": group[0]["ts"], "status": group[-1]["status"]}
        for k in _NUMBERS:
            known = [g[k] for g in group if g[k] is not None]
            mean = sum(known) / len(known) if known else None
            point[k] = mean if k == "cpu_percent" or mean is None else round(mean)
        for k in ("players", "max_players"):
            known = [g[k] for g in group if g[k] is not None]
            point[k] = max(known) if known else None
        out.append(point)
    return step, out


def _since(text: str) -> float:
    try:
        return parse_since(text, "since")
    except InvalidInput as e:
        raise Malformed(e.message, hint="e.g. 15m, 1h, 2d, 1w") from None


def wanted(p: Principal, kinds: set[str], instance: str | None) -> Callable[[Entry], bool]:
    def ok(e: Entry) -> bool:
        if e.kind not in kinds and e.kind != "reset":
            return False
        if instance is not None and e.instance_id != instance:
            return False
        return p.host_wide or (e.instance_id is not None and p.sees(e.instance_id))

    return ok


def add(app: FastAPI, ctx: Context) -> None:
    read = Depends(ctx.auth.require(Scope.READ))
    read_host = Depends(ctx.auth.require(Scope.READ, instance_param=None))

    def checker(request: Request, instance: str | None) -> Callable[[], Any]:
        async def check() -> None:
            p = await run_in_threadpool(ctx.auth.authenticate, request)
            p.require(Scope.READ, instance)

        return check

    def slot(p: Principal) -> Callable[[], None]:
        return ctx.slots.take(p.key_id or p.who)

    @app.get(
        f"{BASE}/instances/{{instance_id}}/metrics", response_model=schemas.Metrics,
        tags=["observe"],
    )  # fmt: skip
    async def metrics(
        instance_id: str, since: str = "1h", points: int = Query(300, ge=1, le=5000),
        p: Principal = read,
    ) -> Any:  # fmt: skip
        """The metrics history of the last `since` (15m, 1h, 2d...), at most `points` points."""
        iid = ctx.instance_id(instance_id)
        span = _since(since)
        rows = (await ctx.run("metrics", Args(instance=iid, since=since))).data
        now = time.time()
        step, samples = downsample(rows, now - span, now, points)
        return {"instance_id": iid, "since": since, "step": step, "samples": samples}

    @app.get(f"{BASE}/events", response_model=list[schemas.Event], tags=["observe"])
    async def events(
        since: str = "1d", instance: str | None = None, kind: list[str] = ANY_KIND,
        p: Principal = read,
    ) -> Any:  # fmt: skip
        """The event log (started, stopped, crashed, backup, api...) of the last `since`."""
        _since(since)
        iid: InstanceId | None = None
        if instance is not None:
            p.require(Scope.READ, instance)
            iid = ctx.instance_id(instance)
        rows: list[dict[str, Any]] = (await ctx.run("events", Args(instance=iid, since=since))).data
        shown = [
            r for r in rows
            if (not kind or r["kind"] in kind)
            and (p.host_wide or (r["instance_id"] is not None and p.sees(r["instance_id"])))
        ]  # fmt: skip
        return JSONResponse(shown)

    @app.get(
        f"{BASE}/instances/{{instance_id}}/logs", response_model=schemas.Logs, tags=["observe"]
    )
    async def logs(
        instance_id: str, since: str = "1h", lines: int = Query(200, ge=1, le=10000),
        p: Principal = read,
    ) -> Any:  # fmt: skip
        """The instance's journal of the last `since`, at most `lines` lines, oldest first."""
        iid = ctx.instance_id(instance_id)
        span = _since(since)
        argv = (await ctx.run("logs", Args(instance=iid, lines=lines))).data
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(ctx.workers, journal.history, argv, span, lines)
        return {"instance_id": iid, "lines": found}

    @app.get(
        f"{BASE}/instances/{{instance_id}}/logs/stream", tags=["streams"],
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "`log` events; ids are journal cursors"}},
    )  # fmt: skip
    async def log_stream(
        request: Request, instance_id: str,
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
        p: Principal = read,
    ) -> Any:  # fmt: skip
        """The instance's new journal lines, live; reconnect with Last-Event-ID to go on."""
        iid = ctx.instance_id(instance_id)
        cursor = journal.check_cursor(last_event_id) if last_event_id else None
        argv = (await ctx.run("logs", Args(instance=iid))).data
        release = slot(p)
        try:
            proc = await journal.spawn(argv, cursor)  # before the answer: no line is lost
        except BaseException:
            release()
            raise
        frames = journal.follow(proc, checker(request, iid), recheck=ctx.recheck)
        return EventStream(frames, release)

    @app.get(
        f"{BASE}/events/stream", tags=["streams"],
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "state, removed, sample, event, operation, host, reset"}},
    )  # fmt: skip
    async def stream(
        request: Request, kinds: str = ",".join(KINDS), instance: str | None = None,
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
        p: Principal = read,
    ) -> Any:  # fmt: skip
        """Live updates. Reconnect with Last-Event-ID (or the listing's X-Event-ID) to get
        what came since; `reset` means some was missed: fetch the state again."""
        chosen = {k.strip() for k in kinds.split(",") if k.strip()}
        if not chosen <= set(KINDS):
            raise Malformed(f"kinds: expected some of {', '.join(KINDS)}")
        if instance is not None:
            p.require(Scope.READ, instance)
            instance = ctx.instance_id(instance)
        cursor = ctx.bus.last_id  # from now: what happens once the client has its answer
        if last_event_id:
            if not last_event_id.isdigit() or len(last_event_id) > 20:
                raise Malformed("Last-Event-ID: not an event id of this stream")
            cursor = int(last_event_id)
        release = slot(p)
        check = checker(request, None)
        frames = bus_frames(
            ctx.bus, cursor, wanted(p, chosen, instance), check, recheck=ctx.recheck
        )
        return EventStream(frames, release)

    @app.get(f"{BASE}/host", response_model=schemas.HostStats, tags=["observe"])
    async def host(p: Principal = read_host) -> Any:
        """The host's CPU, load and memory (also streamed as `host` events each sampling
        round), for principals that see the whole host."""
        p.require_host(Scope.READ)
        latest = ctx.view.host.latest
        return latest if latest is not None else await run_in_threadpool(ctx.view.host.read)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["observe"])
    async def prometheus(p: Principal = read) -> Any:
        """Prometheus' text format: the textfile's gauges, from the daemon's last sample."""
        from ..daemon import prometheus as prom

        tracked = [t for t in ctx.view.all() if p.sees(t.inst.id)]
        rows = [ctx.view.latest[t.inst.id] for t in tracked if t.inst.id in ctx.view.latest]
        restarts: dict[str, int] = {t.inst.id: t.live.restarts for t in tracked}
        names: dict[str, str] = {t.inst.id: t.inst.name for t in tracked}
        text = prom.render(rows, restarts, names)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
