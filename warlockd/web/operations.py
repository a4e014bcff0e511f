"""Operations: the API's commands that change the host (create, clone, delete, update, backup,
restore, set-config). Each is an operation with an id; long ones answer at once (202) and
the client follows them over Server-Sent Events (`operation` entries: queued, running,
progress, done or failed) or GET /api/v1/operations/{id}; short ones (delete, set-config)
are waited for and answered as usual.

A runner does the work: Transient (warlockd.service) hands the command to a unit of its own
(worker.py says why); InProcess runs it on this thread (unit tests over an in-memory
systemd, which runs no units). Either way it is the table's command with the API's Args.

Operations live in memory: the newest KEEP are kept (a restarted daemon forgets them; their
events stay in the event log). At most QUEUE wait or run at once: past that, 503.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from ..actions import Args
from ..errors import WarlockError
from ..fsutil import atomic_write
from ..host import Host
from .errors import Failed, Unavailable, body_of, status_of
from .principal import Principal
from .sse import Bus

WORKERS = 4  # operations under way at once (their threads mostly wait on a unit)
QUEUE = 32
KEEP = 256
POLL = 0.1

Report = Callable[[str, int, int | None], None]


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as the API shows it: the message, the hint and the status it gets."""
    if isinstance(exc, WarlockError):
        return body_of(exc) | {"status": status_of(exc)}
    return {"error": f"internal error: {type(exc).__name__}", "hint": "see journalctl -u warlockd",
            "status": 500}  # fmt: skip


class Runner(Protocol):
    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        """Run op.command with args; the answer as worker.answer_of makes it."""


class InProcess:
    def __init__(self, host: Host) -> None:
        self.host = host

    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        from ..commands import call
        from .worker import answer_of

        host = self.host.for_thread()
        host.progress = report
        try:
            outcome = call(host, op.command, args)
        except Exception as e:
            if not isinstance(e, WarlockError):
                traceback.print_exc(file=sys.stderr)
            return answer_of(e)
        return answer_of(None, outcome.data, outcome.notes)


class Transient:
    """The command in `warlock-api-<op>.service`, its request and answer in files."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        from ..paths import PACKAGE_ROOT, from_checkout
        from ..units import PYTHON
        from . import worker

        host = self.host.for_thread()
        where = host.paths.runtime / "api" / op.id
        where.mkdir(mode=0o700, parents=True)
        try:
            atomic_write(where / worker.REQUEST, worker.encode(op.command, args), 0o600)
            env = host.paths.to_env() | (
                {"PYTHONPATH": str(PACKAGE_ROOT)} if from_checkout() else {}
            )
            unit = f"warlock-api-{op.id.removeprefix('op_')}.service"
            argv = [PYTHON, "-m", "warlockd.web.worker", str(where)]
            host.systemd.start_transient(unit, argv, env, f"warlockd: {op.command} ({op.id})")
            return self._wait(host, unit, where, report)
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def _wait(self, host: Host, unit: str, where: Path, report: Report) -> dict[str, Any]:
        from . import worker

        seen, checked = b"", time.monotonic()
        while True:
            try:
                answer: dict[str, Any] = json.loads((where / worker.ANSWER).read_bytes())
                return answer
            except FileNotFoundError:
                pass
            progress = _read(where / worker.PROGRESS)
            if progress and progress != seen:
                seen = progress
                p = json.loads(progress)
                report(str(p["what"]), int(p["done"]), p["total"])
            if time.monotonic() - checked >= 1.0:  # gone without an answer: it failed
                checked = time.monotonic()
                st = host.systemd.states(unit).get(unit)
                if (st is None or st.active in ("inactive", "failed")) and not (
                    where / worker.ANSWER
                ).exists():
                    return worker.answer_of(
                        WarlockError(
                            f"{unit} ended without an answer", hint=f"journalctl -u {unit}"
                        )
                    )
            time.sleep(POLL)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


class Operation:
    """One command under way or done; changed only under Operations' lock."""

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
        self.done = threading.Event()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "command": self.command, "instance_id": self.instance_id,
            "who": self.who, "state": self.state, "created": self.created,
            "started": self.started, "finished": self.finished, "progress": self.progress,
            "result": self.result, "notes": list(self.notes), "error": self.error,
        }  # fmt: skip

    def visible_to(self, p: Principal) -> bool:
        return p.host_wide or (self.instance_id is not None and p.sees(self.instance_id))


class Operations:
    def __init__(
        self,
        bus: Bus,
        runner: Runner,
        *,
        after: Callable[[Operation], None] | None = None,
        workers: int = WORKERS,
    ) -> None:
        """`after` runs once a command is done, before the operation says so (the view
        reads the registry again after a create)."""
        self.bus, self.runner, self.after = bus, runner, after
        self._pool = ThreadPoolExecutor(workers, "warlock-api-op")
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, command: str, args: Args, instance_id: str | None, who: str) -> Operation:
        """Under way in the background; the client follows it."""
        op = self._add(command, instance_id, who)
        self._pool.submit(self._run, op, args)
        return op

    def run_now(self, command: str, args: Args, instance_id: str | None, who: str) -> Operation:
        """Done on this thread; the operation, or Failed with the status its error calls for."""
        op = self._add(command, instance_id, who)
        self._run(op, args)
        if op.error is not None:
            e = op.error
            raise Failed(str(e["error"]), e.get("hint"), int(e.get("status", 500)))
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

    def _add(self, command: str, instance_id: str | None, who: str) -> Operation:
        op = Operation(command, instance_id, who)
        with self._lock:
            busy = sum(1 for o in self._ops.values() if not o.done.is_set())
            if busy >= QUEUE:
                raise Unavailable(f"{busy} operations are under way", hint="wait for some to end")
            self._ops[op.id] = op
            while len(self._ops) > KEEP and next(iter(self._ops.values())).done.is_set():
                self._ops.popitem(last=False)
        self._publish(op)
        return op

    def _publish(self, op: Operation) -> None:
        self.bus.publish("operation", op.instance_id, self.snapshot(op))

    def _set(self, op: Operation, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(op, name, value)
        self._publish(op)

    def _run(self, op: Operation, args: Args) -> None:
        self._set(op, state="running", started=time.time())

        def report(what: str, done: int, total: int | None) -> None:
            self._set(op, progress={"what": what, "done": done, "total": total})

        try:
            answer = self.runner(op, args, report)
        except Exception as e:  # the runner itself failed (systemd-run refused it...)
            answer = {"state": "failed", "error": error_of(e)}
        if self.after is not None:
            try:
                self.after(op)
            except Exception:  # the command's outcome matters more than a late rescan
                traceback.print_exc(file=sys.stderr)
        if answer.get("state") == "done":
            changes = {"state": "done", "result": answer.get("result"),
                       "notes": list(answer.get("notes", []))}  # fmt: skip
        else:
            changes = {"state": "failed", "error": answer.get("error")}
        self._set(op, finished=time.time(), **changes)
        op.done.set()
