"""The metrics history and the event log in SQLite (`/var/lib/warlock/warlock.db`).

Samples land in `samples_raw`; `maintain()` folds raw rows older than a day into
1-minute rows, 1-minute rows older than a week into 1-hour rows, drops what is older
still, and keeps the file under a size bound. Every sample row carries its
`instance_id`. WAL with synchronous=NORMAL: a SIGKILL loses at most the transaction in
flight, never the database (only a power cut may lose the last commits).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import InvalidInput, WarlockError

SCHEMA_VERSION = 1
EVENT_KINDS = (
    "started", "stopped", "crashed", "frozen", "restarted", "backup", "update",
    "port_conflict", "daemon", "delayed", "schedule", "link", "api",
)  # fmt: skip
_COLUMNS = (
    "instance_id, ts, status, cpu_percent, memory_bytes, tasks, disk_bytes, players, max_players"
)
_SAMPLE_TABLE = """CREATE TABLE {name} (
    instance_id TEXT NOT NULL, ts REAL NOT NULL, status TEXT NOT NULL, cpu_percent REAL,
    memory_bytes INTEGER, tasks INTEGER, disk_bytes INTEGER, players INTEGER,
    max_players INTEGER{extra})"""
# Downsampled tables are unique per bucket, so a bucket is folded once; raw rows that
# arrive later for a bucket already folded are dropped with the rest of the old raw rows.
_SCHEMA = (
    _SAMPLE_TABLE.format(name="samples_raw", extra=""),
    "CREATE INDEX samples_raw_id_ts ON samples_raw (instance_id, ts)",
    _SAMPLE_TABLE.format(name="samples_1m", extra=", UNIQUE (instance_id, ts)"),
    _SAMPLE_TABLE.format(name="samples_1h", extra=", UNIQUE (instance_id, ts)"),
    """CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL,
        instance_id TEXT, message TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX events_ts ON events (ts)",
    "CREATE INDEX events_id_ts ON events (instance_id, ts)",
)
# One bucket per (instance, period); status is the last one seen in the bucket, players
# the peak, the rest averages. Minute rows weigh the same span of time, so a plain
# average of them is the hour's time average.
_FOLD = """
WITH b AS (
    SELECT *, (CAST(ts AS INTEGER) / :width) * :width AS bucket,
        FIRST_VALUE(status) OVER (PARTITION BY instance_id, (CAST(ts AS INTEGER) / :width)
                                  ORDER BY ts DESC) AS last_status
    FROM {src} WHERE ts < :cut)
INSERT INTO {dst} ({cols})
SELECT instance_id, bucket, MAX(last_status), AVG(cpu_percent),
    CAST(ROUND(AVG(memory_bytes)) AS INTEGER), CAST(ROUND(AVG(tasks)) AS INTEGER),
    CAST(ROUND(AVG(disk_bytes)) AS INTEGER), MAX(players), MAX(max_players)
FROM b GROUP BY instance_id, bucket
ON CONFLICT (instance_id, ts) DO NOTHING
"""
# Oldest data goes first when the file is over its bound: coarse history, then events,
# then recent detail. Rows are appended in time order, so rowid order is age order.
_TRIM_ORDER = ("samples_1h", "samples_1m", "events", "samples_raw")


class StoreError(WarlockError):
    pass


@dataclass(frozen=True)
class Sample:
    instance_id: str
    ts: float
    status: str
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    tasks: int | None = None
    disk_bytes: int | None = None
    players: int | None = None
    max_players: int | None = None


@dataclass(frozen=True)
class Event:
    ts: float
    kind: str
    instance_id: str | None
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def _hint(path: Path, exc: sqlite3.Error) -> str | None:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_FULL") or "full" in str(exc):
        return f"free space on the filesystem holding {path.parent}, or lower max_db_mb"
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return f"check the permissions of {path} and its directory, and that it is mounted rw"
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return f"move {path} aside; warlockd creates a new one (the history starts over)"
    if name.startswith("SQLITE_CANTOPEN"):
        return f"check that {path.parent} exists and is writable"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "another process holds a lock on the database"
    return None


def _sample(row: sqlite3.Row) -> Sample:
    return Sample(**dict(row))


def _event(r: sqlite3.Row) -> Event:
    return Event(r["ts"], r["kind"], r["instance_id"], r["message"], json.loads(r["data"]), r["id"])


class Store:
    """One connection, shared by the daemon's threads under a lock."""

    def __init__(
        self, path: Path, *, raw_hours: int = 24, minute_days: int = 7, hour_days: int = 90,
        max_bytes: int = 256 * 1024 * 1024, readonly: bool = False,
    ) -> None:  # fmt: skip
        self.path = path
        self.raw_span = raw_hours * 3600.0
        self.minute_span = minute_days * 86400.0
        self.hour_span = hour_days * 86400.0
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        mode = "ro" if readonly else "rwc"
        with self._errors("open"):
            self._db = sqlite3.connect(
                f"file:{quote(str(path))}?mode={mode}", uri=True, isolation_level=None,
                check_same_thread=False, timeout=5.0,
            )  # fmt: skip
        self._db.row_factory = sqlite3.Row
        try:
            with self._errors("open"):
                self._setup(readonly)
        except StoreError:
            self._db.close()
            raise

    def _setup(self, readonly: bool) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]  # reads the header
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this warlockd's",
                hint="upgrade warlockd, or move the database aside",
            )
        db.execute("PRAGMA busy_timeout = 5000")
        if readonly:
            return
        if version == 0:
            # auto_vacuum must be chosen before the first table exists.
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        if version == 0:
            with self._tx():
                # Asked again under the write lock: the CLI may have created it meanwhile.
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _SCHEMA:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(f"{self.path}: {doing}: {cause}", _hint(self.path, exc)) from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")  # inside: a COMMIT that fails (disk full) must not
        except BaseException:  # leave the transaction open, or no later write could begin
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(doing), self._tx() as db:
            yield db

    def add_samples(self, rows: Iterable[Sample]) -> None:
        values = [
            (s.instance_id, s.ts, s.status, s.cpu_percent, s.memory_bytes, s.tasks,
             s.disk_bytes, s.players, s.max_players)
            for s in rows
        ]  # fmt: skip
        if not values:
            return
        with self._write("writing samples") as db:
            db.executemany(
                f"INSERT INTO samples_raw ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", values
            )

    def add_event(self, ev: Event) -> int:
        if ev.kind not in EVENT_KINDS:
            raise InvalidInput(f"unknown event kind {ev.kind!r}", hint=", ".join(EVENT_KINDS))
        data = json.dumps(ev.data, default=str, sort_keys=True)
        with self._write("writing an event") as db:
            cur = db.execute(
                "INSERT INTO events (ts, kind, instance_id, message, data) VALUES (?,?,?,?,?)",
                (ev.ts, ev.kind, ev.instance_id, ev.message, data),
            )
            return int(cur.lastrowid or 0)

    def _read(self, doing: str, sql: str, args: Iterable[Any]) -> list[sqlite3.Row]:
        with self._lock, self._errors(doing):
            return self._db.execute(sql, tuple(args)).fetchall()

    def events(
        self, since: float, *, instance_id: str | None = None,
        kinds: Collection[str] | None = None, limit: int = 1000,
    ) -> list[Event]:  # fmt: skip
        """Events at or after `since`, oldest first, at most `limit` (the next `since` is
        the last one's ts, so a reader can page through)."""
        sql = "SELECT * FROM events WHERE ts >= ?"
        args: list[Any] = [since]
        if instance_id is not None:
            sql, args = sql + " AND instance_id = ?", [*args, instance_id]
        if kinds is not None:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        rows = self._read("reading events", sql + " ORDER BY ts, id LIMIT ?", [*args, limit])
        return [_event(r) for r in rows]

    def events_after(self, after_id: int, limit: int = 100) -> list[Event]:
        """Events with an id above `after_id`, in the order they were added."""
        rows = self._read(
            "reading events", "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?",
            [after_id, limit],
        )  # fmt: skip
        return [_event(r) for r in rows]

    def last_event_id(self) -> int:
        rows = self._read("reading events", "SELECT MAX(id) FROM events", [])
        return int(rows[0][0] or 0)

    def metrics(self, instance_id: str, since: float, until: float | None = None) -> list[Sample]:
        """Samples of one instance in [since, until], oldest first, at the finest resolution
        kept for each stretch: hourly history, then minute rows, then raw detail."""
        end = float("inf") if until is None else until
        out: list[Sample] = []
        boundary = float("inf")  # where the finer table already took over
        for table, width in (("samples_raw", 0), ("samples_1m", 60), ("samples_1h", 3600)):
            # A bucket is stamped with its start: it counts if any of its span is in range.
            low = "ts > ?" if width else "ts >= ?"
            rows = self._read(
                "reading metrics",
                f"SELECT {_COLUMNS} FROM {table} WHERE instance_id = ? AND {low} AND ts <= ? "
                "AND ts < ? ORDER BY ts",
                (instance_id, since - width, end, boundary),
            )
            out[:0] = [_sample(r) for r in rows]
            first = self._read(
                "reading metrics", f"SELECT MIN(ts) FROM {table} WHERE instance_id = ?",
                (instance_id,),
            )[0][0]  # fmt: skip
            if first is not None:
                boundary = min(boundary, first)
        return out

    def last_sample(self, instance_id: str) -> Sample | None:
        for table in ("samples_raw", "samples_1m", "samples_1h"):
            rows = self._read(
                "reading metrics",
                f"SELECT {_COLUMNS} FROM {table} WHERE instance_id = ? ORDER BY ts DESC LIMIT 1",
                (instance_id,),
            )
            if rows:
                return _sample(rows[0])
        return None

    def maintain(self, now: float) -> None:
        """Fold, expire and trim; run it every few minutes, not on the sampling path."""
        raw_cut = (now - self.raw_span) // 60 * 60  # whole buckets only: each folds once
        minute_cut = (now - self.minute_span) // 3600 * 3600
        with self._write("downsampling") as db:
            for src, dst, width, cut in (
                ("samples_raw", "samples_1m", 60, raw_cut),
                ("samples_1m", "samples_1h", 3600, minute_cut),
            ):
                db.execute(
                    _FOLD.format(src=src, dst=dst, cols=_COLUMNS), {"width": width, "cut": cut}
                )
                db.execute(f"DELETE FROM {src} WHERE ts < ?", (cut,))
            db.execute("DELETE FROM samples_1h WHERE ts < ?", (now - self.hour_span,))
            db.execute("DELETE FROM events WHERE ts < ?", (now - self.hour_span,))
        self._trim()

    def _pragma(self, name: str) -> int:
        return int(self._db.execute(f"PRAGMA {name}").fetchone()[0])

    def _size(self) -> int:
        return self._pragma("page_count") * self._pragma("page_size")

    def _vacuum(self) -> None:
        # executescript() steps the pragma to the end; execute() would free a single page.
        self._db.executescript("PRAGMA incremental_vacuum;")

    def _trim(self) -> None:
        with self._lock, self._errors("trimming to max_db_mb"):
            self._vacuum()
            # Pages half-emptied by deletes are not freed, so delete, vacuum, measure again.
            for table in _TRIM_ORDER:
                while self._size() > self.max_bytes:
                    count = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    if not count:
                        break
                    excess = 1 - self.max_bytes / self._size()
                    chunk = max(100, int(count * max(0.05, excess)))
                    with self._tx() as db:
                        db.execute(
                            f"DELETE FROM {table} WHERE rowid IN "
                            f"(SELECT rowid FROM {table} ORDER BY rowid LIMIT ?)", (chunk,),
                        )  # fmt: skip
                    self._vacuum()
            # The WAL would otherwise keep its high-water size on disk.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def integrity(self) -> str:
        """`ok`, or SQLite's first complaint."""
        return str(self._read("checking integrity", "PRAGMA integrity_check", ())[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
