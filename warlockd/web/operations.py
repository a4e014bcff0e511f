"""Long operations (create with an install, clone, backup, restore, update): the request
returns at once with an operation id; the command runs here, through the table, on worker
threads of its own, and every step of it (queued, running, progress, done or failed) is an
`operation` entry on the event bus, so a client follows it over Server-Sent Events or asks
GET /api/v1/operations/{id}.

Operations live in memory: the newest KEEP are kept (a restart of the daemon forgets them,
the events they recorded stay in the event log). At most QUEUE wait at once: past that, 503.
Progress (bytes of a backup...) comes from the command through Host.progress, at most every
PROGRESS_EVERY seconds.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..actions import Args, Outcome
from ..commands import call
from ..errors import WarlockError
from ..host import Host
from .errors import Unavailable, body_of, status_of
from .principal import Principal
from .sse import Bus

WORKERS = 2
QUEUE = 32
KEEP = 256
PROGRESS_EVERY = 0.5


class Operation:
    """One long command; changed only under Operations' lock."""

    def __init__(self, command: str, instance_id: str | None, who: str) -> None:
        self.id = "op_" + secrets.token_hex(8)
        self.command, self.instance_id, self.who = command, instance_id, who
        self.state = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.progress: dict[str, Any] | None = None
        self.result: Any = None
        self.notes: list[str] = []
        self.error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "command": self.command, "instance_id": self.instance_id,
            "who": self.who, "state": self.state, "created": self.created,
            "started": self.started, "finished": self.finished, "progress": self.progress,
            "result": self.result, "notes": list(self.notes), "error": self.error,
        }  # fmt: skip

    def visible_to(self, p: Principal) -> bool:
        return p.host_wide or (self.instance_id is not None and p.sees(self.instance_id))


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as the API shows it: the message and hint, never a traceback."""
    if isinstance(exc, WarlockError):
        return body_of(exc) | {"status": status_of(exc)}
    return {
        "error": f"internal error: {type(exc).__name__}",
        "hint": "see journalctl -u warlockd",
        "status": 500,
    }


class Operations:
    def __init__(
        self,
        host: Host,
        bus: Bus,
        *,
        after: Callable[[Operation], None] | None = None,
        workers: int = WORKERS,
    ) -> None:
        """`after` runs once a command is done, before the operation says so (the view
        reads the registry again after a create)."""
        self.host, self.bus, self.after = host, bus, after
        self._pool = ThreadPoolExecutor(workers, "warlock-api-op")
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, command: str, args: Args, instance_id: str | None, who: str) -> Operation:
        op = Operation(command, instance_id, who)
        with self._lock:
            waiting = sum(1 for o in self._ops.values() if o.state in ("queued", "running"))
            if waiting >= QUEUE:
                raise Unavailable(
                    f"{waiting} operations are under way", hint="wait for some to finish"
                )
            self._ops[op.id] = op
            while len(self._ops) > KEEP:
                oldest = next(iter(self._ops))
                if self._ops[oldest].state in ("queued", "running"):
                    break
                del self._ops[oldest]
        self._publish(op)
        self._pool.submit(self._run, op, args)
        return op

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            return self._ops.get(op_id)

    def all(self) -> list[Operation]:
        with self._lock:
            return list(self._ops.values())

    def snapshot(self, op: Operation) -> dict[str, Any]:
        with self._lock:
            return op.to_dict()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _publish(self, op: Operation) -> None:
        self.bus.publish("operation", op.instance_id, self.snapshot(op))

    def _set(self, op: Operation, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(op, name, value)
        self._publish(op)

    def _run(self, op: Operation, args: Args) -> None:
        self._set(op, state="running", started=time.time())
        host = self.host.for_thread()
        host.progress = self._reporter(op)
        try:
            outcome: Outcome = call(host, op.command, args)
        except BaseException as exc:  # reported on the operation, never raised here
            if not isinstance(exc, WarlockError):
                traceback.print_exc(file=sys.stderr)
            self._done(op)
            self._set(op, state="failed", finished=time.time(), error=error_of(exc))
            return
        self._done(op)
        self._set(
            op, state="done", finished=time.time(), result=outcome.data, notes=list(outcome.notes)
        )

    def _done(self, op: Operation) -> None:
        if self.after is not None:
            try:
                self.after(op)
            except Exception:  # the command's outcome matters more than a late rescan
                traceback.print_exc(file=sys.stderr)

    def _reporter(self, op: Operation) -> Callable[[str, int, int | None], None]:
        last = [0.0]

        def report(what: str, done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY and (total is None or done < total):
                return
            last[0] = now
            self._set(op, progress={"what": what, "done": done, "total": total})

        return report
