"""Per-instance state files under /run/warlock, written by the daemon, read by the CLI.

One JSON file per key, `{"key", "written", "expires", "data"}`; keys always carry the
instance id (`services_<guid>_<host>_<id>`, `app_configs_<guid>_<host>_<id>`,
`players_<guid>_<host>_<id>_<service>`), so two instances of one game never share an
entry. A reader gets the data, or None when the entry is missing, expired or unreadable:
the cache is an accelerator, and the caller falls back to asking systemd.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from . import fsutil
from .errors import InvalidInput
from .model import InstanceId, validate_guid

KINDS = ("services", "app_configs", "players")
SUFFIX = ".json"
_PART_RE = re.compile(r"[A-Za-z0-9@:+=-][A-Za-z0-9@:+=.-]*")
_KEY_RE = re.compile(r"[A-Za-z0-9_@:+=.-]+")
# A temp file older than this was left by a writer that was killed mid-write.
_STALE_TMP = 60.0


def _part(what: str, value: str) -> str:
    if not _PART_RE.fullmatch(value) or ".." in value:
        shown = value.encode("unicode_escape").decode()[:80]
        raise InvalidInput(
            f"invalid {what} {shown!r} for a cache key",
            hint="letters, digits and . - @ : + =, no '/' and no '..'",
        )
    return value


def key(
    kind: str, guid: str, host: str, instance_id: InstanceId, service: str | None = None
) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"unknown cache kind {kind!r}", hint=", ".join(KINDS))
    parts = [kind, validate_guid(guid), _part("host", host), instance_id]
    if kind == "players":
        if service is None:
            raise InvalidInput("a players cache key needs the service name")
        parts.append(_part("service", service))
    elif service is not None:
        raise InvalidInput(f"a {kind} cache key takes no service name")
    return "_".join(parts)


def path_of(run_dir: Path, key: str) -> Path:
    # Keys come from key(); this guard keeps a hand-made one inside run_dir all the same.
    if not _KEY_RE.fullmatch(key) or ".." in key:
        raise InvalidInput(f"invalid cache key {key[:80]!r}")
    return run_dir / f"{key}{SUFFIX}"


def _write_file(path: Path, raw: bytes, mode: int, durable: bool) -> None:
    """Temp file and rename, so a reader never sees half a file.

    The daemon rewrites about 200 of these every 10 s on /run, a tmpfs: fsync there
    buys nothing (the files die with the boot anyway) and costs a syscall each, so it
    is done only when `durable`. mkstemp, not a fixed temp name, because the sampling
    and probing threads may write side by side.
    """
    if durable:
        fsutil.atomic_write(path, raw, mode)
        return
    # a name of this process and thread: unique among writers, and cheaper than mkstemp
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write(
    run_dir: Path,
    key: str,
    data: dict[str, Any],
    ttl: float,
    now: float | None = None,
    *,
    durable: bool = False,
    mode: int = 0o644,
) -> None:
    now = time.time() if now is None else now
    entry = {"key": key, "written": now, "expires": now + ttl, "data": data}
    raw = json.dumps(entry, separators=(",", ":"), default=str).encode()
    _write_file(path_of(run_dir, key), raw, mode, durable)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("data"), dict)
        or not isinstance(entry.get("expires"), int | float)
    ):
        return None
    return entry


def read(run_dir: Path, key: str, now: float | None = None) -> dict[str, Any] | None:
    """The data under `key`, or None when it is missing, expired or corrupt."""
    entry = _load(path_of(run_dir, key))
    now = time.time() if now is None else now
    if entry is None or entry["expires"] <= now:
        return None
    data: dict[str, Any] = entry["data"]
    return data


def prune(run_dir: Path, now: float | None = None) -> int:
    """Remove expired and unreadable entries and stale temp files; return how many."""
    now = time.time() if now is None else now
    removed = 0
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return 0
    for name in names:
        path = run_dir / name
        if name.startswith(".") and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime >= now - _STALE_TMP:
                    continue  # a writer may still be renaming it
        elif name.endswith(SUFFIX) and _KEY_RE.fullmatch(name[: -len(SUFFIX)]):
            entry = _load(path)
            if entry is not None and entry["expires"] > now:
                continue
        else:
            continue  # not ours
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed
