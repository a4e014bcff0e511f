"""Off-site backups through restic: one repository per host (a local path or a directory
on an SFTP server), each instance's snapshots tagged `warlock-instance=<id>`.

restic, not borg: restic needs nothing on an SFTP server but its SFTP subsystem (an
SFTP-only account will do); borg must run `borg serve` there, so borg must be installed.

restic does not read the game's directory as root: it stores symlinks as symlinks and opens
files O_NOFOLLOW, but follows a link in a directory above a file, so a game swapping a
directory for a link mid-backup could get a root-only file copied (and restored to it).
archive_writer makes a tar of the saves as the instance's user (files and directories only)
and restic reads it from stdin as `<id>.tar`; its content-defined chunks deduplicate it (a
small change adds about a chunk, ~1 MiB). A restore extracts that tar, each member checked,
into a new directory that the caller swaps in. restic gets a clean environment: repository,
RESTIC_PASSWORD_FILE (the password is never on a command line) and a cache directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import IO, Any, NamedTuple

from .archive_writer import ENV, WriteFailed, extract_checked, lowered, run_as_owner, stream_tar
from .errors import CommandError, Conflict, InvalidInput, NotFound, WarlockError
from .model import InstanceId

DEFAULT_PASSWORD_FILE = Path("/etc/warlock/offsite.password")
DEFAULT_CACHE_DIR = Path("/var/cache/warlock/restic")
TAG = "warlock-instance="
KEEPS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
_SFTP = re.compile(r"sftp:(//[^\s/]+/\S+|([^\s@:/]+@)?[^\s@:/]+:\S+)")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{8,64}")


def _path(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("/")


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100000


_KEYS: dict[str, tuple[str, Callable[[Any], bool], Callable[[Any], Any]]] = {
    "password_file": ("an absolute path", _path, Path),
    "cache_dir": ("an absolute path", _path, Path),
    "host": ("letters, digits, . _ - (at most 64)", lambda v: bool(_HOST.fullmatch(str(v))), str),
    **{k: ("a count 1..100000", _count, int) for k in KEEPS},
    "sftp_command": ("a command, such as 'ssh -p 23 user@host -s sftp'",
                     lambda v: isinstance(v, str) and bool(v.strip()), str),
}  # fmt: skip
Progress = Callable[[int, int, float | None], None]  # (bytes done, bytes total, s left)


class OffsiteSettings(NamedTuple):
    """The `[offsite]` table of warlockd.toml (and, last, what is not a key: the binary)."""

    repository: str
    password_file: Path = DEFAULT_PASSWORD_FILE
    host: str = "warlock"  # restic's host name for every snapshot, whatever the hostname
    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    sftp_command: str | None = None  # restic's -o sftp.command=...
    cache_dir: Path = DEFAULT_CACHE_DIR
    restic: str = "restic"


class Snapshot(NamedTuple):
    id: str
    short_id: str
    time: datetime
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    host: str
    size: int | None = None  # bytes of the tar it holds, when known
    added: int | None = None  # bytes this snapshot added to the repository (backup only)

    def to_dict(self) -> dict[str, object]:
        return self._asdict() | {"time": self.time.isoformat()}


def check_table(path: Path, table: Any) -> tuple[OffsiteSettings | None, list[str]]:
    """The settings in an `[offsite]` table (None if any is wrong), and every mistake."""
    errors: list[str] = []

    def bad(key: str, expected: str) -> None:
        errors.append(f"{path}: offsite{'.' + key if key else ''}: expected {expected}")

    if not isinstance(table, dict):
        bad("", "an [offsite] table")
        return None, errors
    known = [f for f in OffsiteSettings._fields if f != "restic"]
    for extra in sorted(set(table) - set(known)):
        bad(extra, f"one of the keys {', '.join(known)} (unknown key)")
    repo = table.get("repository")
    if not isinstance(repo, str) or not (repo.startswith("/") or _SFTP.fullmatch(repo)):
        got = f", got {repo!r}" if repo is not None else " (missing)"
        bad("repository", f"an absolute path or sftp:user@host:/path{got}")
    values: dict[str, Any] = {}
    for key, (expected, ok, make) in _KEYS.items():
        if key in table and ok(table[key]):
            values[key] = make(table[key])
        elif key in table:
            bad(key, f"{expected}, got {table[key]!r}")
    if "sftp_command" in values and not str(repo).startswith("sftp:"):
        bad("sftp_command", "an sftp: repository (it is for those only)")
    if errors:
        return None, errors
    return OffsiteSettings(repository=str(repo), **values), []


def parse(path: Path, table: Any) -> OffsiteSettings:
    """check_table, raising InvalidInput that names every mistake at once."""
    settings, errors = check_table(path, table)
    if settings is None:
        raise InvalidInput(f"{len(errors)} problem(s) in {path}:\n  " + "\n  ".join(errors))
    return settings


def _password_file(s: OffsiteSettings) -> Path:
    """The password file, refused unless it is a root-only regular file."""
    p = s.password_file
    try:
        st = p.stat()
    except FileNotFoundError:
        make = f"(umask 077; head -c 32 /dev/urandom | base64 > {p})"
        raise NotFound(f"offsite password file {p} is missing", hint=make) from None
    except OSError as e:
        raise WarlockError(f"offsite password file {p}: {e.strerror}") from None
    if not p.is_file() or st.st_uid != os.geteuid():
        raise InvalidInput(f"offsite password file {p} is not a file of ours (uid {st.st_uid})")
    if st.st_mode & 0o077:
        mode = f"mode {st.st_mode & 0o777:04o}"
        raise InvalidInput(f"offsite password file {p} is open to group or others ({mode}): "
                           "refusing to use it", hint=f"chmod 600 {p}")  # fmt: skip
    return p


def _env(s: OffsiteSettings) -> dict[str, str]:
    if not shutil.which(s.restic, path=ENV["PATH"]):
        raise WarlockError(f"restic is not installed (no {s.restic})", hint="apt install restic")
    password = _password_file(s)
    s.cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {"HOME": pwd.getpwuid(os.geteuid()).pw_dir, "RESTIC_CACHE_DIR": str(s.cache_dir)}
    return {**ENV, **env, "RESTIC_REPOSITORY": s.repository, "RESTIC_PASSWORD_FILE": str(password)}


def _argv(s: OffsiteSettings, *args: str) -> list[str]:
    options = ["-o", f"sftp.command={s.sftp_command}"] if s.sftp_command else []
    return lowered([s.restic, *options, *args])


def _failure(s: OffsiteSettings, command: str, stderr: str, rc: int) -> WarlockError:
    """restic's complaint as one line, with a hint for the usual ones."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "Permanently" not in ln]
    text, repo = "\n".join(lines), s.repository
    ssh = [ln.removeprefix("subprocess ssh: ") for ln in lines if ln.startswith("subprocess ssh:")]
    fatal = [ln.removeprefix("Fatal: ") for ln in lines if ln.startswith("Fatal:")]
    if "wrong password or no key found" in text:
        return WarlockError(f"offsite repository {repo}: wrong password",
                            hint=f"{s.password_file} does not open this repository")  # fmt: skip
    if "empty password" in text:
        return InvalidInput(f"offsite password file {s.password_file} is empty")
    if "Is there a repository at the following location?" in text:
        return NotFound(f"no restic repository at {repo}", hint="`backup --to offsite` makes it")
    if "unable to start the sftp session" in text or (ssh and "unable to open repo" in text):
        why = (ssh or fatal or ["ssh failed"])[-1]  # restic may exit before relaying ssh's
        hint = "is the SFTP host up, and do the two hosts know each other's SSH keys?"
        return WarlockError(f"offsite repository {repo} is unreachable: {why}", hint=hint)
    if "already locked" in text:
        return Conflict(f"offsite repository {repo} is locked by another restic run",
                        hint="wait for it; `restic unlock` removes a dead run's lock")  # fmt: skip
    return CommandError(f"restic {command} failed: {(fatal or lines or [f'exit {rc}'])[-1]}")


def _run(s: OffsiteSettings, *args: str, timeout: float = 3600, retry: bool = True) -> str:
    """restic's stdout. A lock left by a restic that died is removed and the command tried
    once more (`restic unlock` removes only stale locks)."""
    try:
        proc = subprocess.run(
            _argv(s, *args), env=_env(s), stdin=DEVNULL, capture_output=True, text=True,
            timeout=timeout, cwd="/", check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise WarlockError(f"restic {args[0]} did not finish within {timeout:g} s") from None
    if proc.returncode == 0:
        return proc.stdout
    error = _failure(s, args[0], proc.stderr, proc.returncode)
    if not (retry and isinstance(error, Conflict)):
        raise error
    _run(s, "unlock", retry=False)
    return _run(s, *args, timeout=timeout, retry=False)


def _stop(proc: subprocess.Popen[bytes], gone: bool = False) -> int | None:
    """SIGINT (restic saves nothing, drops its lock); its status if it had stopped itself."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30 if gone else 0.2)
    own = proc.poll()
    if own is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in filter(None, (proc.stdin, proc.stdout)):
        with contextlib.suppress(OSError):
            pipe.close()
    return own


@contextlib.contextmanager
def _deadline(proc: subprocess.Popen[bytes], timeout: float, what: str) -> Iterator[None]:
    """SIGINT to restic after `timeout` s (a stalled SFTP link); then any failure says so."""
    late = threading.Event()

    def expire() -> None:
        late.set()
        proc.send_signal(signal.SIGINT)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        yield
    except BaseException:
        if late.is_set():
            raise WarlockError(f"restic {what} did not finish within {timeout:g} s") from None
        raise
    finally:
        timer.cancel()


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode(errors="replace")


def _snapshot(d: dict[str, Any]) -> Snapshot:
    return Snapshot(
        str(d["id"]), str(d.get("short_id") or d["id"][:8]), datetime.fromisoformat(d["time"]),
        tuple(d.get("paths") or ()), tuple(d.get("tags") or ()), str(d.get("hostname", "")),
    )  # fmt: skip


def init(s: OffsiteSettings) -> bool:
    """Make the repository: True, or False if one was there (and the password opens it)."""
    try:
        _run(s, "init")
        return True
    except CommandError as e:
        if "already exists" not in e.message:
            raise
    _run(s, "cat", "config")  # it is there: is it ours?
    return False


def backup(
    s: OffsiteSettings, instance_id: InstanceId, root: Path, paths: Sequence[str],
    *, on_progress: Progress | None = None, timeout: float = 6 * 3600,
) -> Snapshot:  # fmt: skip
    """A snapshot of `paths` (relative to the instance directory `root`; missing ones are
    skipped), read as the owner of `root` when we are root, at a low priority."""
    names = [p for p in paths if os.path.lexists(root / p)]
    if not names:
        raise InvalidInput(f"{instance_id}: nothing to back up in {root}")
    drop = run_as_owner(root)
    argv = _argv(s, "backup", "--json", "--stdin", "--stdin-filename", f"{instance_id}.tar",
                 "--host", s.host, "--tag", TAG + instance_id)  # fmt: skip
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if on_progress:
            spent = time.monotonic() - started
            on_progress(done, total, spent * (total - done) / done if done else None)

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=PIPE, stdout=out, stderr=err, env=_env(s), cwd="/")
        assert proc.stdin is not None
        with _deadline(proc, timeout, "backup"):
            try:
                stream_tar(root, names, proc.stdin.write, **drop, on_progress=progress)
                proc.stdin.close()  # the end of the tar: restic saves the snapshot
                if (rc := proc.wait()) != 0:
                    raise _failure(s, "backup", _read(err), rc)
            except BaseException as e:
                # before its stdin closes (a cut tar must not be saved); if restic stopped
                # first (a wrong password, a lost connection), that is the news
                if (own := _stop(proc, gone=isinstance(e, WriteFailed))) not in (None, 0):
                    raise _failure(s, "backup", _read(err), own) from None
                raise
        summary = [json.loads(ln) for ln in _read(out).splitlines() if '"summary"' in ln][-1]
    found = _lookup(s, str(summary["snapshot_id"]))
    size, added = summary.get("total_bytes_processed"), summary.get("data_added")
    return found._replace(size=size, added=added)


def _lookup(s: OffsiteSettings, snapshot_id: str) -> Snapshot:
    """One snapshot, whichever instance and host it belongs to."""
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise InvalidInput(f"snapshot id {snapshot_id!r}: expected 8 to 64 hex digits")
    found = json.loads(_run(s, "snapshots", "--json", snapshot_id) or "[]")
    if not found:
        raise NotFound(f"no snapshot {snapshot_id} in {s.repository}")
    return _snapshot(found[0])


def snapshots(
    s: OffsiteSettings, instance_id: InstanceId, *, sizes: bool = False
) -> list[Snapshot]:
    """The instance's snapshots from this host (restic's host name), newest first; with
    `sizes`, each one's size (one `restic stats` each)."""
    out = _run(s, "snapshots", "--json", "--host", s.host, "--tag", TAG + instance_id)
    found = sorted(map(_snapshot, json.loads(out or "[]")), key=lambda n: n.time, reverse=True)
    if not sizes:
        return found
    size = [json.loads(_run(s, "stats", "--json", n.id))["total_size"] for n in found]
    return [n._replace(size=b) for n, b in zip(found, size, strict=True)]


def forget(
    s: OffsiteSettings, instance_id: InstanceId, *, keep_last: int | None = None,
    keep_daily: int | None = None, keep_weekly: int | None = None, keep_monthly: int | None = None,
) -> list[str]:  # fmt: skip
    """Forget the instance's snapshots (from this host) that the policy does not keep,
    and prune the data no snapshot needs any more; the ids forgotten. A keep_* left out
    is taken from the settings."""
    given = (keep_last, keep_daily, keep_weekly, keep_monthly)
    keep = {k: v if v is not None else getattr(s, k) for k, v in zip(KEEPS, given, strict=True)}
    policy = [f"--{k.replace('_', '-')}={v}" for k, v in keep.items() if v is not None]
    if not policy:
        raise InvalidInput("forget: no keep_last, keep_daily, keep_weekly or keep_monthly")
    for k, v in keep.items():
        if v is not None and (isinstance(v, bool) or v < 1):
            raise InvalidInput(f"forget: {k} {v}: expected 1 or more")
    out = _run(s, "forget", "--json", "--host", s.host, "--tag", TAG + instance_id,
               "--group-by", "host,tags", *policy)  # fmt: skip
    removed = [str(n["id"]) for group in json.loads(out or "[]") for n in group.get("remove") or []]
    if removed:
        _run(s, "prune", timeout=6 * 3600)
    return removed


def restore(
    s: OffsiteSettings, instance_id: InstanceId, snapshot_id: str, target: Path,
    *, timeout: float = 6 * 3600,
) -> list[str]:  # fmt: skip
    """Extract one of the instance's snapshots into `target`, a new directory (mode 0700)
    for the caller to swap in; the top-level names it holds. Another instance's snapshot,
    or a member but a file or directory inside, is refused; on failure `target` is gone."""
    snap = _lookup(s, snapshot_id)
    if TAG + instance_id not in snap.tags:
        owner = [t.removeprefix(TAG) for t in snap.tags if t.startswith(TAG)]
        whose = f"instance {owner[0]}'s" if owner else "not a warlockd"
        raise InvalidInput(f"snapshot {snap.short_id} is {whose} backup, not {instance_id}'s")
    if len(snap.paths) != 1 or not snap.paths[0].endswith(".tar"):
        raise InvalidInput(f"snapshot {snap.short_id} is not a warlockd backup (no .tar)")
    env = _env(s)  # refused before the target is made, if it is
    try:
        target.mkdir(mode=0o700)
    except OSError as e:
        raise InvalidInput(f"restore target {target}: {e.strerror}") from None
    with tempfile.TemporaryFile() as err:
        argv = _argv(s, "dump", snap.id, snap.paths[0])
        proc = subprocess.Popen(argv, env=env, cwd="/", stdin=DEVNULL, stdout=PIPE, stderr=err)
        assert proc.stdout is not None
        with _deadline(proc, timeout, "restore"):
            try:
                tops = extract_checked(proc.stdout, target, f"snapshot {snap.short_id}")
                proc.stdout.read()  # tar's zero records, to the end
                if (rc := proc.wait()) != 0:
                    raise _failure(s, "dump", _read(err), rc)
            except BaseException:
                own = _stop(proc)
                shutil.rmtree(target, ignore_errors=True)
                if own:  # restic stopped first (the connection went...): that is the news
                    raise _failure(s, "dump", _read(err), own) from None
                raise
    return tops


def check(s: OffsiteSettings, *, read_data_subset: str | None = None) -> None:
    """The repository's structure; with `read_data_subset` ("5%", "1/7") that data, read."""
    subset = ["--read-data-subset", read_data_subset] if read_data_subset else []
    _run(s, "check", *subset, timeout=6 * 3600)
