"""Operations: the API's commands that change the host (create, clone, delete, update, backup,
restore, set-config). Each is an operation with an id; long ones answer at once (202) and
the client follows them over Server-Sent Events (`operation` entries: queued, running,
progress, done or failed) or GET /api/v1/operations/{id}; short ones (delete, set-config)
are waited for and answered as usual.

A runner does the work: Transient (warlockd.service) hands the command to a unit of its own
(worker.py says why); InProcess runs it on this thread (unit tests over an in-memory
systemd, which runs no units). Either way it is the table's command with the API's Args.

The newest KEEP are kept, each in a root-only file (/var/lib/warlock/api-operations/<id>.json,
written when its state changes), so a restarted warlockd still answers for them: one that
was running is followed again (its unit went on without the daemon: a stop or an upgrade of
warlockd does not wait for a backup, nor cut it), one that never began is failed. At most
QUEUE wait or run at once: past that, 503.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from ..actions import Args
from ..errors import WarlockError
from ..fsutil import atomic_write, remove
from ..host import Host
from .errors import Failed, Unavailable, body_of, status_of
from .principal import Principal
from .sse import Bus

WORKERS = 4  # operations under way at once (their threads mostly wait on a unit)
QUEUE = 32
KEEP = 256
POLL = 0.1
STATES = ("queued", "running", "done", "failed")
_OP_ID = re.compile(r"op_[0-9a-f]{16}")

Report = Callable[[str, int, int | None], None]


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as the API shows it: the message, the hint and the status it gets."""
    if isinstance(exc, WarlockError):
        return body_of(exc) | {"status": status_of(exc)}
    return {"error": f"internal error: {type(exc).__name__}", "hint": "see journalctl -u warlockd",
            "status": 500}  # fmt: skip


class Interrupted(Exception):
    """warlockd is stopping: the command goes on in its unit, the next warlockd follows it."""


class Runner(Protocol):
    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        """Run op.command with args; the answer as worker.answer_of makes it."""

    def adopt(self, op: Operation, report: Report) -> dict[str, Any] | None:
        """Follow op, begun by an earlier warlockd, to its answer; None if nothing is left."""

    def stop(self) -> None:
        """Waits end at once with Interrupted (warlockd is stopping)."""


class InProcess:
    def __init__(self, host: Host) -> None:
        self.host = host

    def adopt(self, op: Operation, report: Report) -> dict[str, Any] | None:
        return None  # it ran on a thread of the process that is gone

    def stop(self) -> None:
        pass

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
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        from ..paths import PACKAGE_ROOT, from_checkout
        from ..units import PYTHON
        from . import worker

        host = self.host.for_thread()
        where = host.paths.runtime / "api" / op.id
        where.mkdir(mode=0o700, parents=True)
        with self._kept_while_interrupted(where):
            atomic_write(where / worker.REQUEST, worker.encode(op.command, args), 0o600)
            env = host.paths.to_env() | (
                {"PYTHONPATH": str(PACKAGE_ROOT)} if from_checkout() else {}
            )
            argv = [PYTHON, "-m", "warlockd.web.worker", str(where)]
            unit = unit_of(op)
            host.systemd.start_transient(unit, argv, env, f"warlockd: {op.command} ({op.id})")
            return self._wait(host, unit, where, report)

    def adopt(self, op: Operation, report: Report) -> dict[str, Any] | None:
        host = self.host.for_thread()
        where = host.paths.runtime / "api" / op.id  # gone after a reboot
        if not where.is_dir():
            return None
        with self._kept_while_interrupted(where):
            return self._wait(host, unit_of(op), where, report)

    @contextlib.contextmanager
    def _kept_while_interrupted(self, where: Path) -> Iterator[None]:
        """The request, progress and answer files go when the answer is read; they stay
        for the next warlockd when this one stops first."""
        try:
            yield
        except Interrupted:
            raise
        except BaseException:
            shutil.rmtree(where, ignore_errors=True)
            raise
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
            if self._stopping.wait(POLL):
                raise Interrupted(unit)


def unit_of(op: Operation) -> str:
    return f"warlock-api-{op.id.removeprefix('op_')}.service"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


class Operation:
    """One command under way or done; changed only under Operations' lock."""

    FIELDS = ("id", "command", "instance_id", "who", "state", "created", "started",
              "finished", "progress", "result", "notes", "error")  # fmt: skip

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
        self.kept = True  # in a file of its own, for the next warlockd

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS} | {"notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Operation:
        """One as to_dict wrote it (KeyError, TypeError or ValueError when it is not)."""
        op = cls(str(d["command"]), d["instance_id"], str(d["who"]))
        for name in cls.FIELDS:
            setattr(op, name, d[name])
        if not (
            _OP_ID.fullmatch(op.id) and op.state in STATES and isinstance(op.created, (int, float))
        ):
            raise ValueError(f"not an operation: {str(d)[:80]}")
        if op.finished is not None:
            op.done.set()
        return op

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
        store: Path | None = None,
    ) -> None:
        """`after` runs once a command is done, before the operation says so (the view
        reads the registry again after a create); `store` is the directory of their files
        (None: in memory only)."""
        self.bus, self.runner, self.after, self.store = bus, runner, after, store
        self._pool = ThreadPoolExecutor(workers, "warlock-api-op")
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, command: str, args: Args, instance_id: str | None, who: str) -> Operation:
        """Under way in the background; the client follows it."""
        op = self._add(command, instance_id, who, kept=True)
        self._pool.submit(self._run, op, args)
        return op

    def run_now(self, command: str, args: Args, instance_id: str | None, who: str) -> Operation:
        """Done on this thread; the operation, or Failed with the status its error calls for.
        Not kept on disk: its caller has the answer."""
        op = self._add(command, instance_id, who, kept=False)
        self._run(op, args)
        if not op.done.is_set():
            raise Unavailable("warlockd is stopping", hint=f"GET /api/v1/operations/{op.id}")
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

    def recover(self) -> None:
        """The operations an earlier warlockd kept: the ended ones as they were, a running
        one followed to its end, one that never began failed."""
        if self.store is None:
            return
        found: list[Operation] = []
        for path in self.store.glob("op_*.json"):
            try:
                found.append(Operation.from_dict(json.loads(path.read_bytes())))
            except (OSError, ValueError, KeyError, TypeError):  # not ours: left alone
                continue
        found.sort(key=lambda op: op.created)
        for old in found[:-KEEP]:
            remove(self.store / f"{old.id}.json")
        with self._lock:
            for op in found[-KEEP:]:
                self._ops[op.id] = op
        for op in found[-KEEP:]:
            if op.state == "queued":
                error = {"error": f"warlockd stopped before {op.command} began",
                         "hint": "send it again", "status": 503}  # fmt: skip
                self._finish(op, {"state": "failed", "error": error}, ran=False)
            elif op.state == "running":
                self._pool.submit(self._follow, op)

    def shutdown(self) -> None:
        """Commands under way go on in their units; the next warlockd follows them."""
        self.runner.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _add(self, command: str, instance_id: str | None, who: str, *, kept: bool) -> Operation:
        op = Operation(command, instance_id, who)
        op.kept = kept
        with self._lock:
            busy = sum(1 for o in self._ops.values() if not o.done.is_set())
            if busy >= QUEUE:
                raise Unavailable(f"{busy} operations are under way", hint="wait for some to end")
            self._ops[op.id] = op
            self._save(op)
            while len(self._ops) > KEEP and next(iter(self._ops.values())).done.is_set():
                gone, _ = self._ops.popitem(last=False)
                if self.store is not None:
                    remove(self.store / f"{gone}.json")
        self._publish(op)
        return op

    def _save(self, op: Operation) -> None:
        """Under the lock: the operation's file, when its state changed."""
        if self.store is None or not op.kept:
            return
        try:
            self.store.mkdir(mode=0o700, exist_ok=True)
            atomic_write(self.store / f"{op.id}.json", json.dumps(op.to_dict()).encode(), 0o600)
        except OSError as e:  # a full disk: the operation goes on, only a restart forgets it
            print(f"warning: cannot keep {op.id} in {self.store}: {e}", file=sys.stderr)

    def _publish(self, op: Operation) -> None:
        self.bus.publish("operation", op.instance_id, self.snapshot(op))

    def _set(self, op: Operation, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(op, name, value)
            if "state" in changes:
                self._save(op)
        self._publish(op)

    def _report(self, op: Operation) -> Report:
        def report(what: str, done: int, total: int | None) -> None:
            self._set(op, progress={"what": what, "done": done, "total": total})

        return report

    def _run(self, op: Operation, args: Args) -> None:
        self._set(op, state="running", started=time.time())
        try:
            answer = self.runner(op, args, self._report(op))
        except Interrupted:  # warlockd is stopping: the file says running, for the next one
            return
        except Exception as e:  # the runner itself failed (systemd-run refused it...)
            answer = {"state": "failed", "error": error_of(e)}
        self._finish(op, answer)

    def _follow(self, op: Operation) -> None:
        try:
            answer = self.runner.adopt(op, self._report(op))
        except Interrupted:
            return
        except Exception as e:
            answer = {"state": "failed", "error": error_of(e)}
        if answer is None:
            error = {"error": f"warlockd restarted while {op.command} ran; its outcome is "
                     "unknown", "hint": f"journalctl -u {unit_of(op)}", "status": 500}  # fmt: skip
            answer = {"state": "failed", "error": error}
        self._finish(op, answer)

    def _finish(self, op: Operation, answer: dict[str, Any], *, ran: bool = True) -> None:
        if self.after is not None and ran:
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
