"""Archives of an instance's saves made by GNU tar (and pigz), as the instance's user and
at a low CPU and I/O priority, so that a backup does not stall the games beside it; and
the checked extraction of such a tar.

What goes in is what backup.py's tarfile archives hold: regular files and directories
only (a symlink, FIFO, socket or device is left out; a second hard link is stored as a
plain copy), named relative to the instance directory, readable by any `tar xzf`. The
list is made by `find` (which never follows a link), sorted (the same tree gives the same
tar bytes, which restic deduplicates well), and fed to `tar --no-recursion`. Every child
runs as the user the caller names, under `nice -n 10 ionice -c 2 -n 7` (best-effort
lowest rather than idle: an idle-class backup could wait for ever behind a busy game).
Wrappers rather than a preexec_fn, which is not safe in a threaded daemon.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, NamedTuple

from .errors import InvalidInput, WarlockError

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
LOWER = ("nice", "-n", "10", "ionice", "-c", "2", "-n", "7")
TAR = (
    "tar", "--create", "--file=-", "--format=gnu", "--hard-dereference",
    # positional: they must come before the list they apply to
    "--no-recursion", "--null", "--verbatim-files-from", "--no-unquote", "--files-from=-",
)  # fmt: skip
_FIND = ("find", "-files0-from", "-", "(", "-type", "f", "-o", "-type", "d", ")")
_CHUNK = 1 << 20
_BLOCK, _RECORD = 512, 10240  # tar's block, and the record (20 blocks) it pads to

Progress = Callable[[int, int], None]  # (tar bytes so far, tar bytes expected)


class WriteFailed(WarlockError):
    """What the tar was written to stopped taking it (a reader gone, a full disk)."""


class Listing(NamedTuple):
    names: tuple[bytes, ...]  # sorted: a directory comes before what it holds
    tar_bytes: int  # the tar's size, exact unless the tree changes while it is read


def lowered(argv: Sequence[str]) -> list[str]:
    """argv at nice 10 and the lowest best-effort I/O priority."""
    return [*LOWER, *argv]


def _drop(user: int | None, group: int | None, extra_groups: Sequence[int] | None) -> Any:
    drop: dict[str, Any] = {}
    if user is not None:
        drop["user"] = user
    if group is not None:
        drop["group"] = group
    if extra_groups is not None:
        drop["extra_groups"] = list(extra_groups)
    return drop


def run_as_owner(root: Path) -> dict[str, Any]:
    """The owner of `root` as user=, group=, extra_groups= when we are root, else nothing:
    how backup.py reads an instance's directory as the instance's user."""
    if os.geteuid() != 0:
        return {}
    st = root.stat()
    return {"user": st.st_uid, "group": st.st_gid, "extra_groups": []}


def _check_names(names: Sequence[str]) -> None:
    for name in names:
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or "\0" in name:
            raise InvalidInput(f"{name!r}: expected a path inside the instance directory")


def _detail(errors: IO[bytes], fallback: str) -> str:
    """The first line of a child's stderr that says something (tar's last line does not)."""
    errors.seek(0)
    for line in errors.read().decode(errors="replace").splitlines():
        if line.strip() and "Exiting with failure status" not in line:
            return line.strip()
    return fallback


def _died(rc: int) -> str:
    return f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"


def list_tree(
    root: Path,
    names: Sequence[str],
    *,
    user: int | None = None,
    group: int | None = None,
    extra_groups: Sequence[int] | None = None,
    timeout: float = 600,
) -> Listing:
    """The regular files and directories at and under `names` (relative to root), as
    `find` sees them running as the given user."""
    _check_names(names)
    entries: dict[bytes, tuple[bool, int]] = {}  # name: (a directory, its data size)
    with tempfile.TemporaryFile() as starts, tempfile.TemporaryFile() as errors:
        starts.write(b"".join(os.fsencode(n) + b"\0" for n in names))
        starts.seek(0)
        try:
            out = subprocess.run(
                lowered([*_FIND, "-printf", r"%y %s %p\0"]), stdin=starts,
                stdout=subprocess.PIPE, stderr=errors, cwd=root, env=ENV, timeout=timeout,
                check=False, **_drop(user, group, extra_groups),
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise WarlockError(f"listing {root} took over {timeout:g} s") from None
        except OSError as e:
            raise WarlockError(f"listing {root} failed: {e.strerror}") from None
        if out.returncode != 0:
            raise WarlockError(f"listing {root} failed: {_detail(errors, _died(out.returncode))}")
    for entry in out.stdout.split(b"\0"):
        if entry:
            kind, size, name = entry.split(b" ", 2)
            entries[name] = (kind == b"d", 0 if kind == b"d" else int(size))
    total = 2 * _BLOCK  # the end-of-archive blocks
    for name, (is_dir, size) in entries.items():
        stored = len(name) + is_dir  # a directory is stored as "name/"
        total += _BLOCK + (_BLOCK + _up(stored + 1) if stored >= 100 else 0) + _up(size)
    return Listing(tuple(sorted(entries)), _up(total, _RECORD))


def _up(n: int, to: int = _BLOCK) -> int:
    return -(-n // to) * to


def stream_tar(
    root: Path,
    names: Sequence[str],
    write: Callable[[bytes], object],
    *,
    user: int | None = None,
    group: int | None = None,
    extra_groups: Sequence[int] | None = None,
    on_progress: Progress | None = None,
    timeout: float | None = None,
) -> int:
    """An uncompressed tar of `names` under `root`, passed to `write` in chunks as tar
    makes it; returns its size. Raises WarlockError (one line) if find or tar fails or is
    killed, WriteFailed if `write` fails: the caller must throw away what it was given."""
    drop = _drop(user, group, extra_groups)
    listing = list_tree(root, names, **drop, timeout=timeout or 600)
    done = 0
    with tempfile.TemporaryFile() as todo, tempfile.TemporaryFile() as errors:
        todo.write(b"".join(n + b"\0" for n in listing.names))
        todo.seek(0)
        try:
            tar = subprocess.Popen(
                lowered(TAR), stdin=todo, stdout=subprocess.PIPE, stderr=errors, cwd=root,
                env=ENV, **drop,
            )  # fmt: skip
        except OSError as e:
            raise WarlockError(f"archiving {root} failed: tar: {e.strerror}") from None
        late = threading.Event()

        def expire() -> None:
            late.set()
            tar.kill()

        timer = threading.Timer(timeout or 0, expire)
        if timeout:
            timer.start()
        assert tar.stdout is not None
        try:
            while chunk := tar.stdout.read(_CHUNK):
                try:
                    write(chunk)
                except OSError as e:
                    raise WriteFailed(f"archiving {root} failed: {e.strerror}") from None
                done += len(chunk)
                if on_progress:
                    on_progress(done, max(done, listing.tar_bytes))
        except BaseException:
            tar.kill()
            raise
        finally:
            timer.cancel()
            tar.stdout.close()
            rc = tar.wait()
        if late.is_set():
            raise WarlockError(f"archiving {root} took over {timeout:g} s")
        if rc not in (0, 1):  # 1: a file changed while it was read; the archive is whole
            raise WarlockError(f"archiving {root} failed: {_detail(errors, 'tar ' + _died(rc))}")
    return done


def compressor(level: int = 6) -> list[str]:
    """pigz (every core, at the lowered priority) when it is installed, else gzip; `-n`:
    no name or time in the header."""
    tool = "pigz" if shutil.which("pigz", path=ENV["PATH"]) else "gzip"
    return [tool, f"-{level}", "-n"]


def write_archive(
    root: Path,
    names: Sequence[str],
    out: BinaryIO,
    *,
    user: int | None = None,
    group: int | None = None,
    extra_groups: Sequence[int] | None = None,
    on_progress: Progress | None = None,
    level: int = 6,
    timeout: float | None = None,
) -> int:
    """A .tar.gz of `names` under `root` written to `out` (a real file: the compressor
    writes to its descriptor); returns the bytes written. `on_progress` counts the tar
    bytes passing through, against the tar size expected. On any failure it raises
    WarlockError (one line) and what is in `out` must be thrown away."""
    if not 1 <= level <= 9:
        raise InvalidInput(f"compression level {level}: expected 1..9")
    drop = _drop(user, group, extra_groups)
    out.flush()
    start = os.lseek(out.fileno(), 0, os.SEEK_CUR)
    argv = compressor(level)
    with tempfile.TemporaryFile() as errors:
        try:
            gz = subprocess.Popen(
                lowered(argv), stdin=subprocess.PIPE, stdout=out.fileno(), stderr=errors,
                cwd="/", env=ENV, **drop,
            )  # fmt: skip
        except OSError as e:
            raise WarlockError(f"archiving {root} failed: {argv[0]}: {e.strerror}") from None
        assert gz.stdin is not None
        try:
            stream_tar(root, names, gz.stdin.write, **drop, on_progress=on_progress,
                       timeout=timeout)  # fmt: skip
        except WriteFailed:  # the compressor stopped: why is the news
            with contextlib.suppress(OSError):
                gz.stdin.close()
            if (rc := gz.wait()) != 0:
                why = _detail(errors, f"{argv[0]} {_died(rc)}")
                raise WarlockError(f"archiving {root} failed: {why}") from None
            raise
        except BaseException:
            gz.kill()
            gz.wait()
            raise
        finally:
            with contextlib.suppress(OSError):
                gz.stdin.close()
        rc = gz.wait()
        if rc != 0:
            why = _detail(errors, f"{argv[0]} {_died(rc)}")
            raise WarlockError(f"archiving {root} failed: {why}")
    return os.lseek(out.fileno(), 0, os.SEEK_CUR) - start


def extract_checked(stream: IO[bytes], target: Path, label: str) -> list[str]:
    """Extract a plain tar read from `stream` into `target`, each member checked and then
    extracted in one pass (what was checked is what lands): only regular files and
    directories, inside, without setuid, setgid or sticky bits. Returns the top-level
    names; raises InvalidInput (naming `label`) at the first bad member, and the caller
    throws `target` away."""
    tops: set[str] = set()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts or not name.parts:
                    raise InvalidInput(f"{label}: {member.name!r} points outside")
                if not (member.isfile() or member.isdir()):
                    raise InvalidInput(f"{label}: {member.name!r} is not a plain file")
                member.mode &= 0o777
                tar.extract(member, target, numeric_owner=True)
                tops.add(name.parts[0])
    except (tarfile.TarError, EOFError) as e:
        raise InvalidInput(f"{label} does not hold a readable tar: {e}") from None
    return sorted(tops)
