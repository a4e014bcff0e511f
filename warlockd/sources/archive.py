"""Archives (.tar.gz, .tar.xz, .tgz, .zip ...) pinned by sha256: `<apps_dir>/<guid>/<sha[:12]>/`.

The download is hashed as it streams to a temp file and checked before anything is
unpacked. Unpacking never trusts the archive: every member is judged first (`plan`,
pure), then written by us, not by tarfile/zipfile, so the result is the same on every
Python patch level (bookworm's 3.11.2 has no tarfile `data` filter): no absolute paths,
no `..`, no device files, no links out, no setuid bits, no archive owners; symlinks are
made last, so nothing is ever written through one.

With `install.filename` the verified download is not unpacked but kept whole as
`<build>/<filename>`: a Java .jar is a zip that must stay one file.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import InvalidInput, WarlockError
from . import (
    FILENAME_RE,
    Build,
    InstallSpec,
    Log,
    Progress,
    app_dir,
    build_dir,
    mark_current,
    promote,
    staging,
)

_SHA_RE = re.compile(r"[0-9a-f]{64}")
_SCHEMES = ("https://", "http://", "file://")
_CHUNK = 1 << 20
_SHOWN = 3  # problems named in the one-line error
_HINT = "warlockd unpacks no absolute paths, '..', links out of the archive or device files"


class UnsafeArchive(WarlockError, ValueError):
    pass


@dataclass(frozen=True)
class Member:
    """One archive entry as the archive describes it."""

    name: str
    kind: str  # file | dir | symlink | hardlink | other
    link: str = ""  # a symlink's target, or a hardlink's archive path
    mode: int = 0o644


@dataclass(frozen=True)
class Planned:
    member: Member
    dest: str  # relative path in the build, after strip_components
    link: str = ""  # symlink: its target as given; hardlink: the target's `dest`


# Pure: judging members.


def _parts(name: str) -> tuple[list[str], str | None]:
    """The path's components, or the reason it would leave the target directory."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", name):
        return [], "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return [], "'..' leaves the target directory"
    return [p for p in name.split("/") if p not in ("", ".")], None


def _strip(name: str, strip: int) -> tuple[str, str | None]:
    parts, problem = _parts(name)
    return "/".join(parts[strip:]), problem


def _symlink_problem(dest: str, target: str) -> str | None:
    if not target:
        return "symlink with an empty target"
    if target.startswith("/"):
        return f"symlink to the absolute path {target!r}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(dest), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target!r}, outside the archive"
    return None


def plan(members: Sequence[Member], strip: int = 0) -> list[Planned]:
    """Where each member goes; UnsafeArchive naming the first few problems if any."""
    problems: list[str] = []
    out: list[Planned] = []
    kinds: dict[str, str] = {}
    for m in members:
        dest, problem = _strip(m.name, strip)
        link = ""
        if problem is None and m.kind == "other":
            problem = "device, fifo or other special file"
        elif problem is None and m.kind == "symlink":
            problem, link = _symlink_problem(dest, m.link), m.link
        elif problem is None and m.kind == "hardlink":
            link, reason = _strip(m.link, strip)
            if reason is None and kinds.get(link) != "file":
                reason = "not a file earlier in the archive"
            problem = reason and f"hardlink to {m.link!r}: {reason}"
        if problem is None and dest and dest in kinds and "dir" not in (m.kind, kinds[dest]):
            problem = "appears twice"
        if problem:
            problems.append(f"{m.name!r}: {problem}")
        elif dest:  # what strip_components removed entirely is skipped, as tar does
            kinds[dest] = "file" if m.kind == "hardlink" else m.kind
            out.append(Planned(m, dest, link))
    if problems:
        more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise UnsafeArchive("; ".join(problems[:_SHOWN]) + more, hint=_HINT)
    if not any(p.member.kind != "dir" for p in out):
        raise UnsafeArchive(f"no files (after stripping {strip} leading components)")
    return out


def file_mode(mode: int) -> int:
    """rwxr-xr-x or rw-r--r--: the archive's exec bit survives, nothing else does."""
    return 0o755 if mode & 0o111 else 0o644


# Reading archives.


Reader = Callable[[str], IO[bytes]]


def _zip_member(zf: zipfile.ZipFile, zi: zipfile.ZipInfo) -> Member:
    mode = zi.external_attr >> 16  # the Unix mode, when a Unix zip wrote it
    if stat.S_ISLNK(mode):
        return Member(zi.filename, "symlink", zf.read(zi)[:4096].decode("utf-8", "replace"))
    if zi.is_dir():
        return Member(zi.filename, "dir")
    if stat.S_IFMT(mode) in (0, stat.S_IFREG):
        return Member(zi.filename, "file", mode=mode & 0o7777)
    return Member(zi.filename, "other")


def _tar_member(ti: tarfile.TarInfo) -> Member:
    kind = (
        "file" if ti.isreg()
        else "dir" if ti.isdir()
        else "symlink" if ti.issym()
        else "hardlink" if ti.islnk()
        else "other"
    )  # fmt: skip
    return Member(ti.name, kind, ti.linkname, ti.mode)


Sized = tuple[Member, int, int]  # a member, its size and its size packed in the archive


@contextmanager
def opened(path: Path) -> Iterator[tuple[list[Sized], Reader]]:
    """The members of a zip or tar file (any compression) with their sizes, and a reader of
    their contents."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            yield [(_zip_member(zf, zi), zi.file_size, zi.compress_size)
                   for zi in zf.infolist()], zf.open  # fmt: skip
        return
    with tarfile.open(path, "r:*") as tf:

        def read(name: str) -> IO[bytes]:
            f = tf.extractfile(name)
            if f is None:
                raise UnsafeArchive(f"{name!r}: not a regular file")
            return f

        yield [(_tar_member(ti), ti.size, ti.size) for ti in tf.getmembers()], read


# Writing.


def _write_file(root: Path, item: Planned, src: IO[bytes]) -> None:
    dest = root / item.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
        os.fchmod(out.fileno(), file_mode(item.member.mode))


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def unpack(path: Path, root: Path, strip: int) -> None:
    """Judge every member, then write dirs, files, hardlinks and, last, symlinks."""
    try:
        with opened(path) as (sized, read):
            members = [m for m, _, _ in sized]
            items = plan(members, strip)
            for item in (i for i in items if i.member.kind == "dir"):
                (root / item.dest).mkdir(parents=True, exist_ok=True, mode=0o755)
            for item in (i for i in items if i.member.kind == "file"):
                with read(item.member.name) as src:
                    _write_file(root, item, src)
            for item in (i for i in items if i.member.kind == "hardlink"):
                (root / item.dest).parent.mkdir(parents=True, exist_ok=True)
                os.link(root / item.link, root / item.dest, follow_symlinks=False)
            _make_symlinks(root, [i for i in items if i.member.kind == "symlink"])
            _open_dirs(root)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise UnsafeArchive(f"not a readable tar or zip archive ({e})") from None
    except OSError as e:
        raise UnsafeArchive(f"cannot unpack: {e.strerror or e}: {e.filename}") from None


def _open_dirs(root: Path) -> None:
    """rwxr-xr-x on every directory, whatever the umask: instances read builds as themselves."""
    for parent, dirs, _ in os.walk(root):
        for d in dirs:
            path = os.path.join(parent, d)
            if not os.path.islink(path):
                os.chmod(path, 0o755)


def _make_symlinks(root: Path, items: list[Planned]) -> None:
    real_root = os.path.realpath(root)
    for item in items:
        dest = root / item.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.path.realpath(dest.parent) != os.path.join(
            real_root, *dest.parent.relative_to(root).parts
        ):
            raise UnsafeArchive(f"{item.member.name!r}: inside another symlink", hint=_HINT)
        os.symlink(item.link, dest)
    for item in items:  # a chain of links that each stay inside can still lead out
        if not _inside(real_root, os.path.realpath(root / item.dest)):
            raise UnsafeArchive(
                f"{item.member.name!r}: symlink resolves outside the archive", hint=_HINT
            )


# Downloading.


def download(url: str, into: Path, progress: Progress | None = None) -> tuple[Path, str]:
    """Stream url to a temp file in `into`, hashing as it goes; return (file, sha256)."""
    import tempfile
    import urllib.error
    import urllib.request

    if not url.startswith(_SCHEMES):
        raise InvalidInput(f"install.url {url!r} is not an https://, http:// or file:// URL")
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(prefix=".download-", dir=into)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as e:
        os.unlink(name)
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise WarlockError(
            f"could not download {url}: {reason}", hint="check install.url and the network"
        ) from None
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), digest.hexdigest()


# The source.


def _checked(spec: InstallSpec) -> tuple[str, str]:
    if not spec.url or not spec.sha256 or not _SHA_RE.fullmatch(spec.sha256):
        raise InvalidInput(
            "an archive install needs install.url and install.sha256 (64 lowercase hex)"
        )
    if not 0 <= spec.strip_components <= 16:
        raise InvalidInput(f"install.strip_components {spec.strip_components} is out of range")
    if spec.filename is not None and not FILENAME_RE.fullmatch(spec.filename):
        raise InvalidInput(
            f"install.filename {spec.filename!r} is not a plain file name",
            hint="letters, digits and . _ + -, not starting with a dot, e.g. server.jar",
        )
    return spec.url, spec.sha256


def keep_file(path: Path, root: Path, filename: str) -> None:
    """The verified download itself, as `root/filename`, readable by every instance."""
    target = root / filename
    os.replace(path, target)  # same file system: the download is made beside the builds
    target.chmod(0o644)


def install(
    spec: InstallSpec, apps_dir: Path, guid: str, log: Log, progress: Progress | None = None
) -> Build:
    url, sha = _checked(spec)
    build_id = sha[:12]
    target = build_dir(apps_dir, guid, build_id)
    if not target.is_dir():
        parent = app_dir(apps_dir, guid)
        parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        log(f"downloading {url}")
        tmp, actual = download(url, parent, progress)
        try:
            if actual != sha:
                raise WarlockError(
                    f"{url} has sha256 {actual}, expected {sha}",
                    hint="the file changed upstream or was tampered with: check install.sha256",
                )
            with staging(apps_dir, guid) as staged:
                if spec.filename:
                    keep_file(tmp, staged, spec.filename)
                else:
                    try:
                        unpack(tmp, staged, spec.strip_components)
                    except UnsafeArchive as e:
                        raise UnsafeArchive(
                            f"archive {url} refused: {e.message}", hint=e.hint
                        ) from None
                promote(staged, apps_dir, guid, build_id)
        finally:
            tmp.unlink(missing_ok=True)
        log(f"{'stored' if spec.filename else 'unpacked'} {url} into {target}")
    mark_current(apps_dir, guid, build_id)
    return Build(target, build_id)


def installed(spec: InstallSpec, apps_dir: Path, guid: str) -> Build | None:
    _, sha = _checked(spec)
    target = build_dir(apps_dir, guid, sha[:12])
    return Build(target, sha[:12]) if target.is_dir() else None


def check_update(spec: InstallSpec, apps_dir: Path, guid: str) -> str | None:
    """An archive is pinned by its hash: only a changed manifest makes a new build."""
    return None if installed(spec, apps_dir, guid) else _checked(spec)[1][:12]
