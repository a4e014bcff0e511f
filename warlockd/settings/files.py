"""Files: read and atomically replace one config file in an instance directory, as root.

The game's user owns the instance directory and may be hostile: it can plant a symbolic
link, a FIFO or a hard link where a config file is expected. So every step goes through
directory file descriptors: each directory of the relative path is opened with O_NOFOLLOW
and O_DIRECTORY from the one before, the file is checked with lstat before it is opened
(a FIFO or device is never opened) and with fstat after, and the new file is made beside it
with O_EXCL, given the old file's owner, group and mode (the directory's, for a new file),
fsynced and renamed over it; then the directory is fsynced. A missing file reads as None.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import InvalidInput

MAX_SIZE = 4 * 1024 * 1024  # config files are small; a huge one is not read into memory
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip


class Loaded(NamedTuple):
    text: str | None  # None: there is no such file
    encoding: str = "utf-8"  # how it was stored, so it is written back the same way


def decode(raw: bytes, rel: str) -> Loaded:
    """Text of a file: UTF-8, or what its byte-order mark says (Unreal writes UTF-16 with a
    BOM when a value is not ASCII)."""
    bom, encoding = next(((b, e) for b, e in _BOMS if raw.startswith(b)), (b"", "utf-8"))
    try:
        return Loaded(raw[len(bom) :].decode(encoding.removesuffix("-sig")), encoding)
    except UnicodeDecodeError:
        raise InvalidInput(f"{rel} is not {encoding.upper()} text: refusing to edit it") from None


def encode(text: str, encoding: str) -> bytes:
    bom = {e: b for b, e in _BOMS}.get(encoding, b"")
    return bom + text.encode(encoding.removesuffix("-sig"))


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"{rel!r} is not a plain relative path")
    return parts


def _refusal(dir_fd: int, name: str, shown: str, error: OSError) -> InvalidInput:
    """Say what is in the way, without following it."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return InvalidInput(f"cannot open {shown}: {error.strerror}")
    what = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
    return InvalidInput(f"{shown} is {what}: refused", hint="remove it from the instance directory")


@contextlib.contextmanager
def _directory(data_dir: Path, parts: list[str], create: bool) -> Iterator[int | None]:
    """An fd of data_dir/parts..., none of them followed if a link; None if one is missing
    (create=False). Missing directories are made owned and moded like their parent."""
    try:
        fd = os.open(data_dir, _DIR)
    except FileNotFoundError:
        if create:
            raise InvalidInput(f"the instance directory {data_dir} does not exist") from None
        yield None
        return
    except OSError as e:
        raise InvalidInput(f"cannot open the instance directory {data_dir}: {e.strerror}") from None
    try:
        for i, name in enumerate(parts):
            shown = "/".join(parts[: i + 1])
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                child = _make_dir(fd, name, shown)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise _refusal(fd, name, shown, e) from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _make_dir(parent: int, name: str, shown: str) -> int:
    st = os.fstat(parent)
    made = True
    try:
        os.mkdir(name, 0o700, dir_fd=parent)  # no wider than this until it is chowned
    except FileExistsError:
        made = False  # made meanwhile by someone else: opened and checked like any other
    try:
        fd = os.open(name, _DIR, dir_fd=parent)
    except OSError as e:
        raise _refusal(parent, name, shown, e) from None
    if made:
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    return fd


def _check(st: os.stat_result, rel: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise InvalidInput(f"{rel} is a symbolic link: refused", hint="replace it with a file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{rel} is not a regular file: refused")
    if st.st_nlink > 1:  # a hard link could be a root-owned file from elsewhere
        raise InvalidInput(f"{rel} has other hard links: refused", hint="copy it instead")
    if st.st_size > MAX_SIZE:
        raise InvalidInput(f"{rel} is larger than {MAX_SIZE // 1024 // 1024} MiB: refused")


def read(data_dir: Path, rel: str) -> Loaded:
    """The text of data_dir/rel, or Loaded(None) if there is no such file."""
    *dirs, name = _parts(rel)
    with _directory(data_dir, dirs, create=False) as dir_fd:
        if dir_fd is None:
            return Loaded(None)
        try:
            _check(os.stat(name, dir_fd=dir_fd, follow_symlinks=False), rel)
        except FileNotFoundError:
            return Loaded(None)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except FileNotFoundError:
            return Loaded(None)
        except OSError as e:  # swapped for a link since the lstat
            raise _refusal(dir_fd, name, rel, e) from None
        with open(fd, "rb") as f:
            _check(os.fstat(f.fileno()), rel)  # what was opened, not what was looked at
            raw = f.read(MAX_SIZE + 1)
    if len(raw) > MAX_SIZE:
        raise InvalidInput(f"{rel} is larger than {MAX_SIZE // 1024 // 1024} MiB: refused")
    return decode(raw, rel)


def write(data_dir: Path, rel: str, text: str, encoding: str = "utf-8") -> None:
    """Replace (or create) data_dir/rel atomically: a reader, the game included, sees the
    old file or the new one, never a part."""
    *dirs, name = _parts(rel)
    data = encode(text, encoding)
    with _directory(data_dir, dirs, create=True) as dir_fd:
        assert dir_fd is not None  # create=True makes every directory
        try:
            old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            _check(old, rel)
            uid, gid, mode = old.st_uid, old.st_gid, stat.S_IMODE(old.st_mode)
        except FileNotFoundError:
            st = os.fstat(dir_fd)
            uid, gid, mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode) & 0o666
        mode &= 0o777  # never a set-id bit on a file root wrote
        tmp = f".{name}.warlock-{os.getpid()}-{secrets.token_hex(4)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
        try:
            with open(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fchown(f.fileno(), uid, gid)  # before chmod: a chown may clear mode bits
                os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)


def remove(data_dir: Path, rel: str) -> bool:
    """Remove data_dir/rel (a link itself, never what it points to); whether it was there."""
    *dirs, name = _parts(rel)
    with _directory(data_dir, dirs, create=False) as dir_fd:
        if dir_fd is None:
            return False
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise InvalidInput(f"{rel} is a directory: refused") from None
    return True
