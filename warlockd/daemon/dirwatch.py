"""The registry's directory, watched by the kernel (inotify): a record written, renamed or
removed wakes the daemon at once, so an instance created, changed or deleted from a shell
reaches the API's listing and its streams in milliseconds, not at the next periodic scan.

Python has no inotify module of its own and Debian packages none that warlockd would
otherwise need; the three calls through ctypes are all of it. Where inotify is refused
(its limits reached), the daemon logs it and falls back on its periodic scan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable, Iterator

IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_Q_OVERFLOW = 0x100, 0x200, 0x4000
MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_NONBLOCK, _CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC  # IN_NONBLOCK, IN_CLOEXEC: the same bits
_HEAD = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name


def events(buf: bytes) -> Iterator[tuple[int, str]]:
    """(mask, name) of each event in what one read() gave."""
    at = 0
    while at + _HEAD.size <= len(buf):
        _, mask, _, size = _HEAD.unpack_from(buf, at)
        name = buf[at + _HEAD.size : at + _HEAD.size + size].split(b"\0", 1)[0]
        yield mask, os.fsdecode(name)
        at += _HEAD.size + size


class DirWatch:
    """Changes to the files of one directory whose names `wanted` accepts."""

    def __init__(self, path: str, wanted: Callable[[str], bool]) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = libc.inotify_init1(_NONBLOCK | _CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        if libc.inotify_add_watch(fd, os.fsencode(path), MASK) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        self.fd, self.wanted = fd, wanted

    def changed(self) -> bool:
        """Whether a wanted file changed since the last call (every pending event read)."""
        hit = False
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return hit
            for mask, name in events(buf):
                # an overflowed queue lost events: assume the worst
                hit = hit or bool(mask & IN_Q_OVERFLOW) or self.wanted(name)

    def close(self) -> None:
        os.close(self.fd)


def is_record(name: str) -> bool:
    """An instance's record (a save is a rename of a dot-file to it)."""
    return name.endswith(".toml") and not name.startswith(".")
