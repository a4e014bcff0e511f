"""An instance's journal for the HTTP API: the lines of the last while, and a live follow.

The table's `logs` command says which journal to read (its journalctl command line, what
manage.py runs in its place); here it is read as JSON (`-o json`), each line with its time,
priority, process and cursor. The cursor is the id of a line on the event stream, so a
client that reconnects with Last-Event-ID continues right after the last line it saw
(`--after-cursor`), missing none the journal still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..run import run
from .errors import Malformed
from .sse import HEARTBEAT, RECHECK, RETRY_MS, Check, frame, refused

_CURSOR_RE = re.compile(r"[A-Za-z0-9=;_-]{1,512}")
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
MAX_LINE = 1 << 20


def check_cursor(text: str) -> str:
    if not _CURSOR_RE.fullmatch(text):
        raise Malformed("Last-Event-ID: not a journal cursor", hint="reconnect without it")
    return text


def _plain(argv: Sequence[str]) -> list[str]:
    """The table's journalctl line without its own -n and -f: the API sets those."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-n", "--lines"):
            skip = True
        elif arg not in ("-f", "--follow"):
            out.append(arg)
    return [*out, "-q", "-o", "json"]


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, str | int) and str(value).isdigit() else None


def line_of(raw: bytes | str) -> dict[str, Any] | None:
    """One journal entry as the API shows it; None for what is not one."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE")
    if isinstance(message, list):  # binary: journalctl gives the bytes
        message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
    stamp, priority, pid = (entry.get(k) for k in ("__REALTIME_TIMESTAMP", "PRIORITY", "_PID"))
    micros = _number(stamp)
    return {
        "ts": None if micros is None else micros / 1e6,
        "message": "" if message is None else str(message),
        "priority": _number(priority),
        "pid": _number(pid),
        "cursor": str(entry.get("__CURSOR", "")),
    }


def history(argv: Sequence[str], since: float, lines: int) -> list[dict[str, Any]]:
    """The last `lines` lines of the last `since` seconds, oldest first (blocking)."""
    cmd = [*_plain(argv), "-n", str(lines), "--since", f"@{int(time.time() - since)}"]
    out = run(cmd, timeout=30, check=False)
    return [e for e in map(line_of, out.splitlines()) if e is not None]


async def spawn(argv: Sequence[str], cursor: str | None) -> asyncio.subprocess.Process:
    """journalctl following the journal from after `cursor` (else from now)."""
    where = [f"--after-cursor={cursor}"] if cursor else ["-n", "0"]
    return await asyncio.create_subprocess_exec(
        *_plain(argv), "-f", *where,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=_ENV, limit=MAX_LINE,
    )  # fmt: skip


async def follow(
    proc: asyncio.subprocess.Process, check: Check, *, recheck: float = RECHECK
) -> AsyncIterator[str]:
    """New lines as `log` events until the caller may go on no more or the client leaves
    (the journalctl process goes with it)."""
    yield f"retry: {RETRY_MS}\n\n"
    assert proc.stdout is not None
    checked = sent = time.monotonic()
    try:
        while True:
            try:
                raw = await asyncio.wait_for(proc.stdout.readline(), recheck)
            except TimeoutError:
                raw = None
            except (ValueError, asyncio.LimitOverrunError):  # a line over MAX_LINE
                continue
            if raw == b"":
                yield frame(None, "end", json.dumps({"error": "the journal ended", "hint": None}))
                return
            entry = line_of(raw) if raw else None
            if entry is not None:
                yield frame(entry["cursor"] or None, "log", json.dumps(entry))
                sent = time.monotonic()
            if time.monotonic() - checked >= recheck:
                if ended := await refused(check):
                    yield ended
                    return
                checked = time.monotonic()
            if time.monotonic() - sent >= HEARTBEAT:
                yield ": keep-alive\n\n"
                sent = time.monotonic()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()
