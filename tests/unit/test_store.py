from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd.errors import InvalidInput
from warlockd.store import Event, Sample, Store, StoreError

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0
NOW = 1_699_999_200.0  # a multiple of 3600: buckets line up with round numbers below


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "warlock.db")
    yield s
    s.close()


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_samples_round_trip_with_every_field(store: Store) -> None:
    full = Sample(ID_A, NOW, "running", 12.5, 1 << 30, 42, 5 << 30, 3, 16)
    bare = Sample(ID_A, NOW + 10, "stopped")
    store.add_samples([full, bare, Sample(ID_B, NOW, "running")])
    assert store.metrics(ID_A, NOW - 1) == [full, bare]
    assert store.last_sample(ID_A) == bare
    assert store.last_sample("default") is None


def test_metrics_honours_since_and_until(store: Store) -> None:
    store.add_samples(Sample(ID_A, NOW + i, "running") for i in range(10))
    assert [s.ts for s in store.metrics(ID_A, NOW + 3, NOW + 5)] == [NOW + 3, NOW + 4, NOW + 5]


def test_events_round_trip_and_filter(store: Store) -> None:
    first = store.add_event(Event(NOW, "crashed", ID_A, "exit 1", {"code": 1}))
    store.add_event(Event(NOW + 1, "started", ID_B, "up"))
    store.add_event(Event(NOW + 2, "daemon", None, "reloaded"))
    assert store.events(NOW)[0] == Event(NOW, "crashed", ID_A, "exit 1", {"code": 1}, first)
    assert [e.kind for e in store.events(NOW + 1)] == ["started", "daemon"]
    assert [e.message for e in store.events(0, instance_id=ID_B)] == ["up"]
    assert [e.kind for e in store.events(0, kinds={"crashed", "daemon"})] == ["crashed", "daemon"]
    assert [e.kind for e in store.events(0, limit=1)] == ["crashed"]


def test_an_unknown_event_kind_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="unknown event kind"):
        store.add_event(Event(NOW, "exploded", ID_A, "?"))


def test_raw_rows_older_than_a_day_fold_into_minute_averages(store: Store) -> None:
    old = NOW - DAY - 3600  # well before the raw cut, on a minute boundary
    store.add_samples([
        Sample(ID_A, old + 0, "running", 10.0, 100, 4, 1000, 1, 16),
        Sample(ID_A, old + 30, "running", 20.0, 202, 6, 1000, 5, 16),
        Sample(ID_A, old + 59.9, "crashed", None, None, None, None, 2, 16),
        Sample(ID_A, old + 60, "stopped", 50.0, 50, 1, 2000, 0, 16),  # next bucket
        Sample(ID_B, old + 10, "running", 1.0),
        Sample(ID_A, NOW - 60, "running", 99.0),  # recent: stays raw
    ])  # fmt: skip
    store.maintain(NOW)
    assert store.metrics(ID_A, old - 1, old + 120) == [
        Sample(ID_A, old, "crashed", 15.0, 151, 5, 1000, 5, 16),  # None is not a zero
        Sample(ID_A, old + 60, "stopped", 50.0, 50, 1, 2000, 0, 16),
    ]
    assert store.metrics(ID_B, old - 1, old + 120) == [Sample(ID_B, old, "running", 1.0)]
    assert _count(store.path, "samples_raw") == 1
    assert store.last_sample(ID_A) == Sample(ID_A, NOW - 60, "running", 99.0)


def test_maintain_is_idempotent(store: Store) -> None:
    old = NOW - 2 * DAY
    store.add_samples(Sample(ID_A, old + i * 10, "running", float(i)) for i in range(12))
    store.maintain(NOW)
    store.maintain(NOW)
    assert [s.cpu_percent for s in store.metrics(ID_A, 0)] == [2.5, 8.5]


def test_minute_rows_older_than_a_week_fold_into_hours(store: Store) -> None:
    hour = NOW - 8 * DAY
    rows = [Sample(ID_A, hour + m * 60, "running", float(m % 2), players=m) for m in range(60)]
    rows.append(Sample(ID_A, hour + 3600, "stopped", 7.0, players=1))
    store.add_samples(rows)
    store.maintain(NOW)
    assert store.metrics(ID_A, 0) == [
        Sample(ID_A, hour, "running", 0.5, players=59),
        Sample(ID_A, hour + 3600, "stopped", 7.0, players=1),
    ]
    assert _count(store.path, "samples_1m") == 0


def test_a_long_range_is_coarse_history_then_recent_detail(store: Store) -> None:
    store.add_samples([
        Sample(ID_A, NOW - 10 * DAY, "running", 1.0),  # -> 1 h
        Sample(ID_A, NOW - 3 * DAY, "running", 2.0),  # -> 1 min
        Sample(ID_A, NOW - 3 * DAY + 5, "running", 4.0),
        Sample(ID_A, NOW - 10, "running", 5.0),  # raw
        Sample(ID_A, NOW - 5, "running", 6.0),
    ])  # fmt: skip
    store.maintain(NOW)
    got = store.metrics(ID_A, NOW - 30 * DAY, NOW)
    assert [(s.ts, s.cpu_percent) for s in got] == [
        (NOW - 10 * DAY, 1.0), (NOW - 3 * DAY, 3.0), (NOW - 10, 5.0), (NOW - 5, 6.0),
    ]  # fmt: skip
    # A bucket that started before `since` still covers part of the range.
    assert [s.cpu_percent for s in store.metrics(ID_A, NOW - 3 * DAY + 30, NOW - DAY)] == [3.0]


def test_retention_drops_hours_and_events_past_hour_days(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db", hour_days=30)
    store.add_samples([Sample(ID_A, NOW - 31 * DAY, "running"), Sample(ID_A, NOW - 29 * DAY, "up")])
    store.add_event(Event(NOW - 31 * DAY, "crashed", ID_A, "old"))
    store.add_event(Event(NOW - 29 * DAY, "crashed", ID_A, "kept"))
    store.maintain(NOW)
    assert [s.status for s in store.metrics(ID_A, 0)] == ["up"]
    assert [e.message for e in store.events(0)] == ["kept"]
    store.close()


def test_maintain_keeps_the_file_under_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = Store(path, max_bytes=256 * 1024)
    for day in range(3):  # a day of one instance every 10 s, spread over three days
        base = NOW - (3 - day) * DAY
        store.add_samples(
            Sample(ID_A, base + i * 10, "running", 1.0, 1 << 30, 10, 1 << 33, 2, 16)
            for i in range(8640)
        )
    store.add_event(Event(NOW, "started", ID_A, "x" * 1000))
    store.maintain(NOW)
    on_disk = path.stat().st_size + (path.with_name("w.db-wal").stat().st_size)
    assert on_disk <= 256 * 1024
    assert store.integrity() == "ok"
    assert store.last_sample(ID_A) is not None  # the newest detail is what survives
    store.close()


def test_a_read_only_database_gives_a_store_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    Store(path).close()
    # mode=ro is refused by SQLite itself, so this path is exercised as root too.
    ro = Store(path, readonly=True)
    with pytest.raises(StoreError) as err:
        ro.add_samples([Sample(ID_A, NOW, "running")])
    assert str(path) in err.value.message and "readonly" in err.value.message
    assert "permissions" in (err.value.hint or "")
    assert ro.metrics(ID_A, 0) == []  # reads still work: the daemon keeps watching
    ro.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_a_read_only_file_and_directory_give_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    Store(path).close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StoreError) as err:
            Store(path).add_samples([Sample(ID_A, NOW, "running")])
        assert "permissions" in (err.value.hint or "")
    finally:
        tmp_path.chmod(0o755)


def test_a_full_database_is_reported_and_the_store_carries_on(store: Store) -> None:
    # max_page_count caps the file like a full disk would: SQLite answers SQLITE_FULL.
    store._db.execute("PRAGMA max_page_count = 12")
    with pytest.raises(StoreError) as err:
        store.add_samples(Sample(ID_A, NOW + i, "running", 1.0) for i in range(5000))
    assert "full" in err.value.message and "space" in (err.value.hint or "")
    assert store.metrics(ID_A, 0) == []  # the failed batch was rolled back whole
    store._db.execute("PRAGMA max_page_count = 1000000")
    store.add_samples([Sample(ID_A, NOW, "running")])
    assert store.last_sample(ID_A) == Sample(ID_A, NOW, "running")


def test_a_file_that_is_not_a_database_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not sqlite\n" * 100)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in err.value.message
    assert "move" in (err.value.hint or "")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        Store(path)


_WRITER = """
import sys
from pathlib import Path
from typing import Any
from warlockd.store import Sample, Store
store = Store(Path(sys.argv[1]))
n = 0
while True:
    store.add_samples(Sample("default", n * 100.0 + i, "running", 1.0, 2, 3) for i in range(100))
    n += 1
    print(n * 100, flush=True)
"""


def test_sigkill_mid_sampling_leaves_a_sound_database_with_every_commit(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 5000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = Store(path)
    assert store.integrity() == "ok"
    assert _count(path, "samples_raw") >= committed
    assert _count(path, "samples_raw") % 100 == 0  # whole transactions only
    store.close()


class _FullAtCommit:
    """A connection whose next COMMIT fails as on a full disk (SQLite then keeps the
    transaction open), passing everything else to the real one."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.failures = db, 1

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_a_commit_that_fails_leaves_no_open_transaction_behind(store: Store) -> None:
    real = store._db
    store._db = _FullAtCommit(real)  # type: ignore[assignment]
    with pytest.raises(StoreError, match="disk is full"):
        store.add_event(Event(1.0, "backup", ID_A, "lost"))
    store.add_event(Event(2.0, "backup", ID_A, "kept"))  # the disk has room again
    store._db = real
    assert [e.message for e in store.events(0)] == ["kept"]
