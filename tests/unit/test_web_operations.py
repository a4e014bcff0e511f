"""Operations outlive warlockd: each one's file under the state directory, one that was running
followed again by the next warlockd (its unit went on), one that never began failed, the
newest 256 kept; and the transient runner leaves a command's files for the next warlockd
when it stops, and takes them away once it has read the answer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from warlockd.actions import Args
from warlockd.systemd import UnitState
from warlockd.web import operations, worker
from warlockd.web.errors import Unavailable
from warlockd.web.operations import Interrupted, Operation, Operations, Report, Transient
from warlockd.web.sse import Bus


class Held:
    """A runner whose commands run until warlockd stops (then Interrupted), and which
    answers `adopted` for an operation of an earlier warlockd."""

    def __init__(self, adopted: dict[str, Any] | None = None) -> None:
        self.adopted, self.stopping, self.began = adopted, threading.Event(), threading.Event()
        self.ended = threading.Event()
        self.followed: list[str] = []

    def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
        report("working", 1, 2)
        self.began.set()
        self.stopping.wait(10)
        self.ended.set()
        raise Interrupted(op.id)

    def adopt(self, op: Operation, report: Report) -> dict[str, Any] | None:
        self.followed.append(op.id)
        return self.adopted

    def stop(self) -> None:
        self.stopping.set()


def on_disk(store: Path, op_id: str) -> dict[str, Any]:
    got: dict[str, Any] = json.loads((store / f"{op_id}.json").read_text())
    return got


def test_a_running_operation_is_followed_to_its_end_by_the_next_warlockd(tmp_path: Path) -> None:
    store = tmp_path / "api-operations"
    first = Operations(Bus(), Held(), store=store)
    runner = first.runner
    assert isinstance(runner, Held)
    op = first.submit("backup", Args(), "a1b2c3d4-0000-4000-8000-000000000001", "key:ops")
    assert runner.began.wait(5)
    first.shutdown()  # what a stop of warlockd does: the command goes on without it
    first._pool.shutdown(wait=True)  # its thread is done: what it left is all there is
    assert runner.ended.is_set()
    assert on_disk(store, op.id)["state"] == "running"
    assert (store.stat().st_mode & 0o777, (store / f"{op.id}.json").stat().st_mode & 0o777) == (
        0o700, 0o600)  # fmt: skip

    afterwards: list[str] = []
    bus = Bus(start=1)
    done = {"state": "done", "result": {"file": "/x.tar.gz"}, "notes": ["kept 3"]}
    second = Operations(bus, Held(adopted=done), after=lambda o: afterwards.append(o.id),
                        store=store)  # fmt: skip
    second.recover()
    again = second.get(op.id)
    assert again is not None and again.who == "key:ops"
    assert again.done.wait(5)
    assert (again.state, again.result, again.notes) == ("done", {"file": "/x.tar.gz"}, ["kept 3"])
    assert afterwards == [op.id]  # the registry is read again, as after any operation
    assert on_disk(store, op.id)["state"] == "done"
    heard = [json.loads(e.data) for e in bus.after(0)[0] if e.kind == "operation"]
    assert (heard[-1]["id"], heard[-1]["state"]) == (op.id, "done")  # its clients hear of it
    second.shutdown()


def test_one_that_never_began_or_left_nothing_fails_with_a_hint(tmp_path: Path) -> None:
    store = tmp_path / "ops"
    queued = Operation("create", None, "user:admin")
    running = Operation("restore", "a1b2c3d4-0000-4000-8000-000000000002", "user:admin")
    running.state, running.started = "running", time.time()
    store.mkdir()
    for op in (queued, running):
        (store / f"{op.id}.json").write_text(json.dumps(op.to_dict()))
    ops = Operations(Bus(), Held(adopted=None), store=store)
    ops.recover()
    for op_id in (queued.id, running.id):
        got = ops.get(op_id)
        assert got is not None and got.done.wait(5) and got.state == "failed"
    q, r = ops.get(queued.id), ops.get(running.id)
    assert q is not None and r is not None and q.error is not None and r.error is not None
    assert "before create began" in q.error["error"] and q.error["hint"] == "send it again"
    assert "outcome is unknown" in r.error["error"]
    assert r.error["hint"] == f"journalctl -u warlock-api-{running.id[3:]}.service"
    assert on_disk(store, running.id)["state"] == "failed"
    ops.shutdown()


def test_ended_ones_come_back_as_they_were_and_only_the_newest_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "KEEP", 3)
    store = tmp_path / "ops"
    store.mkdir()
    made = []
    for n in range(5):
        op = Operation("set-config", None, "key:a")
        op.state, op.created, op.finished, op.result = "done", 1000.0 + n, 1001.0 + n, {"n": n}
        (store / f"{op.id}.json").write_text(json.dumps(op.to_dict()))
        made.append(op.id)
    (store / "op_notjson.json").write_text("{")  # not one of ours: left as it is
    held = Held()
    ops = Operations(Bus(), held, store=store)
    ops.recover()
    assert [o.id for o in ops.all()] == made[2:] and held.followed == []
    assert [o.result for o in ops.all()] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert sorted(p.name for p in store.iterdir()) == sorted(
        [f"{i}.json" for i in made[2:]] + ["op_notjson.json"]
    )
    # a new one pushes the oldest out, in memory and on disk
    new = ops.submit("backup", Args(), None, "key:a")
    assert held.began.wait(5)
    assert made[2] not in [o.id for o in ops.all()] and not (store / f"{made[2]}.json").exists()
    assert on_disk(store, new.id)["state"] == "running"
    ops.shutdown()


def test_a_stopped_operation_is_not_answered_as_done(tmp_path: Path) -> None:
    ops = Operations(Bus(), Held(), store=tmp_path / "ops")
    threading.Timer(0.2, ops.shutdown).start()
    with pytest.raises(Unavailable, match="stopping"):
        ops.run_now("set-config", Args(), None, "key:a")
    assert not (tmp_path / "ops").exists()  # a short one is not kept: its caller has the answer


class _Systemd:
    def __init__(self, active: str) -> None:
        self.active = active

    def states(self, pattern: str) -> dict[str, UnitState]:
        return {pattern: UnitState(pattern, "loaded", self.active, self.active)}


def _host(runtime: Path, active: str = "active") -> Any:
    host = SimpleNamespace(paths=SimpleNamespace(runtime=runtime), systemd=_Systemd(active))
    host.for_thread = lambda: host
    return host


def test_the_transient_runner_keeps_the_files_for_the_next_warlockd(tmp_path: Path) -> None:
    op = Operation("backup", None, "key:a")
    where = tmp_path / "api" / op.id
    runner = Transient(_host(tmp_path))
    assert runner.adopt(op, lambda *a: None) is None  # nothing left (a reboot)

    where.mkdir(parents=True)
    (where / worker.REQUEST).write_text("{}")
    threading.Timer(0.3, runner.stop).start()
    with pytest.raises(Interrupted):
        runner.adopt(op, lambda *a: None)  # the unit still runs; warlockd stops
    assert (where / worker.REQUEST).exists()

    later = Transient(_host(tmp_path))
    seen: list[tuple[str, int, int | None]] = []
    (where / worker.PROGRESS).write_text(json.dumps({"what": "backup", "done": 5, "total": 9}))
    threading.Timer(
        0.3, (where / worker.ANSWER).write_text, [json.dumps({"state": "done"})]
    ).start()
    assert later.adopt(op, lambda *a: seen.append(a)) == {"state": "done"}
    assert seen == [("backup", 5, 9)] and not where.exists()


def test_a_unit_gone_without_an_answer_fails(tmp_path: Path) -> None:
    op = Operation("update", None, "key:a")
    (tmp_path / "api" / op.id).mkdir(parents=True)
    answer = Transient(_host(tmp_path, "failed")).adopt(op, lambda *a: None)
    assert answer is not None and answer["state"] == "failed"
    assert "ended without an answer" in answer["error"]["error"]
    assert not (tmp_path / "api" / op.id).exists()


def test_an_operation_ends_even_when_its_file_cannot_be_written(tmp_path: Path) -> None:
    class Quick(Held):
        def __call__(self, op: Operation, args: Args, report: Report) -> dict[str, Any]:
            return {"state": "done", "result": 7, "notes": []}

    blocker = tmp_path / "ops"
    blocker.write_text("a file where the directory should be")  # as a full disk would refuse
    ops = Operations(Bus(), Quick(), store=blocker)
    op = ops.submit("backup", Args(), None, "key:a")
    assert op.done.wait(5) and (op.state, op.result) == ("done", 7)
    ops.shutdown()
