"""A root-only JSON document: read through a cache that notices any change on disk, changed
only under an flock with an atomic write (fsutil), so two processes (the daemon and the CLI)
never lose each other's changes and a reader never sees half a file."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptRecord
from ..fsutil import atomic_write, locked

T = TypeVar("T")
MODE = 0o600
RACY_NS = 2_000_000_000
_Stamp = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class JsonFile:
    """`read()` costs one stat() while the file is unchanged. Every write is a rename, so a
    change brings a new inode as well as new times; but a freed inode number can come back
    and file times are only as fine as the kernel's clock tick, so a file written in the last
    two seconds is reparsed at each read, as git does with its racily clean index."""

    def __init__(self, path: Path, lock: Path | None = None) -> None:
        self.path = path
        self.lock = lock or path.with_name(f".{path.name}.lock")
        self._mutex = threading.Lock()  # threads of one process: the flock is per process
        self._stamp: _Stamp | None = None
        self._racy = False
        self._data: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        """The document, {} while the file does not exist; reparsed only when it changed.
        Callers must not change the returned dict: use update()."""
        with self._mutex:
            self._refresh()
            return self._data

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Under the flock: reread the file, let `change` edit the document in place, write
        it back atomically (0600). If `change` raises, nothing is written."""
        with self._mutex, locked(self.lock):
            self._stamp = None  # whatever the cache says, the disk is the truth here
            self._refresh()
            data = json.loads(json.dumps(self._data))  # a private copy to edit
            result = change(data)
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", MODE)
            self._stamp = None
            self._refresh()
            return result

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._data = None, {}
            return
        if _stamp(st) == self._stamp and not self._racy:
            return
        self._check_owner(st)
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())  # the stamp of what we parse, not of a newer file
                data = json.loads(f.read())
        except (OSError, ValueError) as e:
            raise CorruptRecord(f"{self.path}: unreadable: {e}") from None
        if not isinstance(data, dict):
            raise CorruptRecord(f"{self.path}: not a JSON object")
        self._stamp, self._data = _stamp(st), data
        self._racy = time.time_ns() - st.st_mtime_ns < RACY_NS

    def _check_owner(self, st: os.stat_result) -> None:
        """Refuse a file that someone else owns or could read or change: it holds hashes and
        decides who gets in."""
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            raise CorruptRecord(
                f"{self.path}: mode {stat.S_IMODE(st.st_mode):o}, owner {st.st_uid}: "
                "not a root-only file",
                hint=f"chown root:root {self.path} && chmod 600 {self.path}",
            )
