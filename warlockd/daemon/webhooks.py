"""Events to webhooks (Discord embeds or plain JSON), from a queue that never blocks.

`submit()` only appends to per-hook queues; one worker thread delivers. Each hook has
its own FIFO and its own backoff clock, and the worker always serves the hook whose
next delivery is due first, so an endpoint that hangs costs the others at most one
request timeout per attempt, and one that fails is retried with exponential backoff
and jitter, then reported through `on_failure`, never raised.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..config import Webhook
from ..store import Event

_COLORS = {  # Discord embed colours, as 0xRRGGBB integers
    "started": 0x2ECC71, "stopped": 0x95A5A6, "crashed": 0xE74C3C, "frozen": 0x3498DB,
    "restarted": 0xE67E22, "backup": 0x1ABC9C, "update": 0x9B59B6, "port_conflict": 0xF1C40F,
    "daemon": 0x607D8B, "delayed": 0xF39C12, "schedule": 0x34495E, "link": 0x2980B9,
}  # fmt: skip
# Discord's documented embed limits (developer docs, "Embed Limits").
_TITLE, _DESCRIPTION, _FIELDS, _FIELD_NAME, _FIELD_VALUE, _TOTAL = 256, 4096, 25, 256, 1024, 6000
_MAX_DELAY = 300.0
_USER_AGENT = "warlockd (webhooks)"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def discord_payload(ev: Event, name: str | None) -> dict[str, Any]:
    who = name or ev.instance_id or "warlockd"
    title = _cut(f"{who}: {ev.kind.replace('_', ' ')}", _TITLE)
    description = _cut(ev.message or ev.kind, _DESCRIPTION)
    budget = _TOTAL - len(title) - len(description)
    items = [("instance", ev.instance_id)] if ev.instance_id else []
    items += [
        (str(k), v if isinstance(v, str) else json.dumps(v, default=str))
        for k, v in ev.data.items()
    ]
    fields = []
    for k, v in items[:_FIELDS]:
        # Discord rejects an empty field value.
        f = {"name": _cut(k, _FIELD_NAME) or "-", "value": _cut(str(v), _FIELD_VALUE) or "-"}
        budget -= len(f["name"]) + len(f["value"])
        if budget < 0:
            break
        fields.append({**f, "inline": len(f["value"]) <= 40})
    embed = {"title": title, "description": description, "timestamp": _iso(ev.ts),
             "color": _COLORS.get(ev.kind, 0x607D8B), "fields": fields}  # fmt: skip
    # Mentions off: an instance named "@everyone" must not ping a whole server.
    return {"username": "warlockd", "embeds": [embed], "allowed_mentions": {"parse": []}}


def json_payload(ev: Event, name: str | None) -> dict[str, Any]:
    return {
        "source": "warlockd", "id": ev.id, "ts": ev.ts, "time": _iso(ev.ts), "kind": ev.kind,
        "instance_id": ev.instance_id, "name": name, "message": ev.message, "data": ev.data,
    }  # fmt: skip


def payload(hook: Webhook, ev: Event, name: str | None) -> bytes:
    body = discord_payload(ev, name) if hook.kind == "discord" else json_payload(ev, name)
    return json.dumps(body, default=str).encode()


@dataclass
class _Delivery:
    seq: int
    event: Event
    body: bytes
    queued: float  # monotonic
    attempt: int = 0


@dataclass
class _Lane:
    """One hook's FIFO and backoff clock."""

    hook: Webhook
    queue: deque[_Delivery] = field(default_factory=deque)
    not_before: float = 0.0  # monotonic

    def due(self) -> float:
        return max(self.not_before, self.queue[0].queued)


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (Discord sends seconds; an HTTP date is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def post(url: str, body: bytes, timeout: float) -> tuple[int, float | None]:
    """POST `body`; (status, Retry-After seconds or None). Raises OSError on failure.

    `timeout` bounds each phase (connect, send, first response byte) from one
    deadline, so a server that accepts and never answers costs one timeout.
    """
    import http.client  # with ssl, a few MB: only a daemon with webhooks pays for them
    import ssl

    parts = urlsplit(url)
    host = parts.hostname or ""
    deadline = time.monotonic() + timeout
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        ctx = ssl.create_default_context()
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        conn.connect()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        conn.request("POST", target, body=body, headers=headers)
        if conn.sock is not None:
            conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
        resp = conn.getresponse()
        resp.read(65536)  # let the connection close cleanly; the body is not used
        return resp.status, _seconds(resp.getheader("Retry-After"))
    finally:
        conn.close()


class Dispatcher:
    def __init__(
        self, hooks: list[Webhook], *, on_failure: Callable[[Webhook, Event, str], None],
        timeout: float = 5, retries: int = 5, backoff: float = 2.0, max_queue: int = 1000,
        sender: Callable[[str, bytes, float], tuple[int, float | None]] = post,
    ) -> None:  # fmt: skip
        self._lanes = [_Lane(h) for h in hooks]
        self._on_failure = on_failure
        self._timeout, self._retries, self._backoff = timeout, retries, backoff
        self._max_queue = max(1, max_queue)
        self._send = sender
        self._cond = threading.Condition()
        self._seq = 0
        self._size = 0
        self._stopping: float | None = None  # monotonic deadline once stop() is called
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def submit(self, ev: Event, name: str | None = None) -> None:
        """Queue `ev` for every hook that wants it; never waits, never raises."""
        dropped: list[tuple[Webhook, Event]] = []
        with self._cond:
            for lane in self._lanes:
                if not lane.hook.wants(ev):
                    continue
                if self._size >= self._max_queue:
                    dropped.append(self._drop_oldest())
                self._seq += 1
                lane.queue.append(_Delivery(self._seq, ev, payload(lane.hook, ev, name),
                                            time.monotonic()))  # fmt: skip
                self._size += 1
            self._cond.notify()
        for hook, old in dropped:
            self._report(hook, old, f"queue full ({self._max_queue}): dropped")

    def _drop_oldest(self) -> tuple[Webhook, Event]:
        lane = min((ln for ln in self._lanes if ln.queue), key=lambda ln: ln.queue[0].seq)
        self._size -= 1
        return lane.hook, lane.queue.popleft().event

    def pending(self) -> int:
        with self._cond:
            return self._size

    def _report(self, hook: Webhook, ev: Event, why: str) -> None:
        with contextlib.suppress(Exception):  # the daemon's callback must not kill delivery
            self._on_failure(hook, ev, why)

    def _next(self) -> tuple[_Lane, _Delivery] | None:
        """The next delivery once it is due; None when stopping is over."""
        with self._cond:
            while True:
                now = time.monotonic()
                ready = [ln for ln in self._lanes if ln.queue]
                if self._stopping is not None and (not ready or now >= self._stopping):
                    return None
                if not ready:
                    self._cond.wait()
                    continue
                lane = min(ready, key=_Lane.due)
                wait = lane.due() - now
                if self._stopping is not None:
                    wait = min(wait, self._stopping - now)
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                self._size -= 1
                return lane, lane.queue.popleft()

    def _run(self) -> None:
        while (item := self._next()) is not None:
            lane, d = item
            try:
                status, retry_after = self._send(lane.hook.url, d.body, self._timeout)
                why = f"HTTP {status}"
            except Exception as exc:  # OSError, TimeoutError, http.client errors, ssl
                status, retry_after, why = 0, None, f"{type(exc).__name__}: {exc}"
            self._settle(lane, d, status, retry_after, why)

    def _settle(
        self, lane: _Lane, d: _Delivery, status: int, retry_after: float | None, why: str
    ) -> None:
        if 200 <= status < 300:
            with self._cond:
                lane.not_before = 0.0
            return
        # 4xx other than timeout/rate limit means the request itself is wrong (a deleted
        # Discord webhook answers 404): retrying cannot help.
        retryable = status == 0 or status >= 500 or status in (408, 429)
        if retryable and d.attempt < self._retries:
            d.attempt += 1
            base = min(_MAX_DELAY, self._backoff * 2 ** (d.attempt - 1))
            delay = max(base * random.uniform(0.5, 1.0), min(retry_after or 0, _MAX_DELAY))
            with self._cond:
                lane.queue.appendleft(d)  # keeps the hook's order
                self._size += 1
                lane.not_before = time.monotonic() + delay
            return
        with self._cond:
            lane.not_before = 0.0
        self._report(lane.hook, d.event, f"{lane.hook}: {why} after {d.attempt + 1} attempt(s)")

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is due for up to `timeout` s, then give up on the rest (reported)."""
        with self._cond:
            self._stopping = time.monotonic() + timeout
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout + self._timeout)
        with self._cond:
            left = [(ln.hook, d.event) for ln in self._lanes for d in ln.queue]
            for ln in self._lanes:
                ln.queue.clear()
            self._size = 0
        for hook, ev in left:
            self._report(hook, ev, "not delivered before shutdown")
