"""Server-Sent Events: the bus every live update goes through, and the response that streams
it to a client, with replay by Last-Event-ID.

The bus keeps the newest `capacity` entries in a ring, each with an id one above the last.
Ids start at the daemon's start time in microseconds, so a restarted daemon's ids are above
every id it gave before: a client that comes back with an id the ring still holds gets
everything after it; with any other id (too old, or from before a restart) it gets a
`reset` event, meaning "fetch the state again", and then the live entries. The daemon's
threads publish (tracking, sampling, events, operations); each entry is encoded to JSON
once, whoever reads it. Publishing wakes the streams on the server's event loop with one
call_soon_threadsafe per burst, however many entries and streams.

A stream answers at once with the entries due, then waits for the next ones, sending a
comment every `heartbeat` seconds so proxies and clients see it is alive. It re-checks its
caller's credentials every `recheck` seconds (a revoked key or an expired session ends it
with an `end` event), gives up on a client that does not read for `send_timeout`, and holds
one of a bounded number of slots (past them: 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NamedTuple

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..errors import WarlockError
from .errors import Unavailable

CAPACITY = 8192
HEARTBEAT = 15.0
RECHECK = 5.0
SEND_TIMEOUT = 30.0
RETRY_MS = 3000  # what EventSource waits before reconnecting


class Entry(NamedTuple):
    id: int
    kind: str
    instance_id: str | None  # None: about the host
    data: str  # JSON text


def frame(entry_id: int | str | None, kind: str, data: str) -> str:
    head = f"id: {entry_id}\n" if entry_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"


class Bus:
    def __init__(self, capacity: int = CAPACITY, start: int | None = None) -> None:
        self.capacity = capacity
        self._ring: list[Entry | None] = [None] * capacity
        self._first = self._next = time.time_ns() // 1000 if start is None else start
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self._wake_pending = False
        self.closed = False

    @property
    def last_id(self) -> int:
        """The newest id; a client that has everything up to a snapshot resumes after it."""
        return self._next - 1

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The event loop the streams wait on (the server's); None when it stops."""
        with self._lock:
            self._loop = loop

    def publish(self, kind: str, instance_id: str | None, data: dict[str, Any]) -> int:
        """Add an entry; callable from any thread. Returns its id."""
        text = json.dumps(data, separators=(",", ":"), default=str)
        return self.publish_many([(kind, instance_id, text)])

    def publish_many(self, entries: Iterable[tuple[str, str | None, str]]) -> int:
        with self._lock:
            for kind, instance_id, text in entries:
                self._ring[self._next % self.capacity] = Entry(self._next, kind, instance_id, text)
                self._next += 1
            loop = None if self._wake_pending else self._loop
            self._wake_pending = self._wake_pending or loop is not None
            last = self._next - 1
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake)
        return last

    def after(self, last: int | None) -> tuple[list[Entry], int, bool]:
        """(entries after `last`, the cursor to continue from, whether some were missed).
        None means "from now on"."""
        with self._lock:
            oldest = max(self._first, self._next - self.capacity)
            if last is None:
                return [], self._next - 1, False
            if not oldest - 1 <= last < self._next:
                return [], self._next - 1, True
            out = [self._ring[i % self.capacity] for i in range(last + 1, self._next)]
            return [e for e in out if e is not None], self._next - 1, False

    def close(self) -> None:
        """The server is stopping: every stream ends."""
        self.closed = True
        self.publish_many([])
        with self._lock:
            loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    # On the event loop.

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        for waiter in self._waiters:
            waiter.set()

    async def wait(self, timeout: float) -> None:
        """Until something is published or `timeout` passes (on the server's loop)."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            self._waiters.discard(waiter)


class Slots:
    """At most `limit` streams at once, and `per_client` for one caller."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit, self.per_client = limit, per_client
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return sum(self._by_client.values())

    def take(self, client: str) -> Callable[[], None]:
        """A slot, or Unavailable; returns the function that gives it back (once)."""
        with self._lock:
            mine = self._by_client.get(client, 0)
            if self.used >= self.limit or mine >= self.per_client:
                which = (
                    f"in all ({self.used} of {self.limit})" if self.used >= self.limit
                    else f"for this caller ({mine} of {self.per_client})"
                )  # fmt: skip
                raise Unavailable(
                    f"too many live streams {which}",
                    hint="close one, or raise max_streams in the [api] settings",
                )
            self._by_client[client] = mine + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            with self._lock:
                if not given_back:
                    given_back = True
                    left = self._by_client.get(client, 1) - 1
                    if left:
                        self._by_client[client] = left
                    else:
                        self._by_client.pop(client, None)

        return give_back


Check = Callable[[], Awaitable[None]]  # raises WarlockError when the caller may go on no more


async def refused(check: Check) -> str | None:
    """The `end` frame when the caller may go on no more (key revoked or expired, scope
    narrowed), else None: a stream asks every `recheck` seconds."""
    try:
        await check()
    except WarlockError as e:
        return frame(None, "end", json.dumps({"error": e.message, "hint": e.hint}))
    return None


async def bus_frames(
    bus: Bus,
    cursor: int | None,
    wanted: Callable[[Entry], bool],
    check: Check,
    *,
    heartbeat: float = HEARTBEAT,
    recheck: float = RECHECK,
) -> AsyncIterator[str]:
    """The bus's entries that `wanted` lets through, from after `cursor`, for ever."""
    yield f"retry: {RETRY_MS}\n\n"
    checked = sent = time.monotonic()
    while not bus.closed:
        entries, cursor, missed = bus.after(cursor)
        if missed:
            yield frame(cursor, "reset", json.dumps({"reason": "events were missed"}))
        text = "".join(frame(e.id, e.kind, e.data) for e in entries if wanted(e))
        if text:
            yield text
            sent = time.monotonic()
        if time.monotonic() - checked >= recheck:
            if ended := await refused(check):
                yield ended
                return
            checked = time.monotonic()
        if not entries:
            await bus.wait(min(heartbeat, recheck))
        if time.monotonic() - sent >= heartbeat:
            yield ": keep-alive\n\n"
            sent = time.monotonic()
    yield frame(None, "end", json.dumps({"error": "the server is stopping", "hint": None}))


async def settle(*tasks: asyncio.Future[None]) -> None:
    """Cancel `tasks` until they are done. Once is not always enough on Python 3.11: its
    asyncio.wait_for swallows a cancellation that comes as the awaited thing completes
    (fixed in 3.12), and a frames loop would go on for ever, holding its stream's slot."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    await asyncio.gather(*tasks, return_exceptions=True)


class EventStream(Response):
    """Streams what `frames` yields; ends it when the client leaves or stops reading."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[str],
        release: Callable[[], None],
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        # as StreamingResponse does: no body, so no Content-Length
        self.status_code, self.background = 200, None
        self.init_headers({"cache-control": "no-store", "x-accel-buffering": "no"})
        self.frames, self.release, self.send_timeout = frames, release, send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code,
                 "headers": self.raw_headers}
            )  # fmt: skip
            pump = asyncio.ensure_future(self._pump(send))
            gone = asyncio.ensure_future(self._until_disconnect(receive))
            try:
                await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.over = True
                self.release()  # the client is gone or the stream ended: its slot is free now
                await settle(pump, gone)
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.release()
            with contextlib.suppress(Exception):
                await self.frames.aclose()  # type: ignore[attr-defined]

    over = False  # set when the stream is done: the pump stops at its next frame

    async def _pump(self, send: Send) -> None:
        async for text in self.frames:
            if self.over:
                return
            message = {"type": "http.response.body", "body": text.encode(), "more_body": True}
            try:
                await asyncio.wait_for(send(message), self.send_timeout)
            except (TimeoutError, OSError):
                return  # a client that does not read holds nothing for long

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
