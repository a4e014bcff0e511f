"""The registry's directory watched through inotify: a record saved (a rename onto it),
removed or written in place is a change; the index, locks and temporary files are not."""

from __future__ import annotations

import errno
import os
import select
import struct
from pathlib import Path

import pytest

from warlockd.daemon.dirwatch import IN_MOVED_TO, IN_Q_OVERFLOW, DirWatch, events, is_record
from warlockd.fsutil import atomic_write


def ready(w: DirWatch) -> bool:
    return bool(select.select([w.fd], [], [], 1.0)[0])


def test_a_saved_or_removed_record_is_a_change_and_bookkeeping_is_not(tmp_path: Path) -> None:
    w = DirWatch(str(tmp_path), is_record)
    try:
        assert not w.changed()  # nothing yet
        atomic_write(tmp_path / ".index.json", b"{}", 0o644)
        (tmp_path / ".lock").write_bytes(b"")
        (tmp_path / "x.app").write_text("/var/lib/warlock/x\n")
        assert ready(w) and not w.changed()
        atomic_write(tmp_path / "guid.a1.toml", b"name = 'A'\n", 0o644)  # a dot-file renamed
        assert ready(w) and w.changed()
        assert not w.changed()  # read once
        with open(tmp_path / "guid.a1.toml", "a") as f:  # edited by hand in place
            f.write("# note\n")
        assert ready(w) and w.changed()
        (tmp_path / "guid.a1.toml").unlink()
        assert ready(w) and w.changed()
    finally:
        w.close()


def test_events_are_read_from_the_kernels_layout_and_an_overflow_counts() -> None:
    def event(mask: int, name: bytes) -> bytes:
        padded = name + b"\0" * (16 - len(name))
        return struct.pack("iIII", 1, mask, 0, len(padded)) + padded

    buf = event(IN_MOVED_TO, b"g.a.toml") + event(IN_Q_OVERFLOW, b"")
    assert list(events(buf)) == [(IN_MOVED_TO, "g.a.toml"), (IN_Q_OVERFLOW, "")]
    r, w = os.pipe()
    watch = DirWatch.__new__(DirWatch)
    watch.fd, watch.wanted = r, is_record
    os.set_blocking(r, False)
    os.write(w, event(IN_Q_OVERFLOW, b""))
    assert watch.changed()  # lost events: read everything again
    os.close(w)
    os.close(r)


def test_a_directory_that_is_not_there_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="inotify_add_watch") as e:
        DirWatch(str(tmp_path / "missing"), is_record)
    assert e.value.errno == errno.ENOENT
