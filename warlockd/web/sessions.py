"""Server-side dashboard sessions and their cookie.

The cookie holds a random token (256 bits); the table is keyed by its SHA-256, so neither
memory dumps of the table nor the optional file hold a usable token. The CSRF token is an
HMAC of the session token: per session, never stored, and learning it (it is readable by
the page's script) does not reveal the cookie.

Persistence (optional, on by default in the daemon): the table is written to a root-only
file on login and logout, and idle times at most once a minute, so a daemon restart (every
package upgrade) does not log everyone out. Storing only hashes makes the file useless to a
thief, logout reaches the disk before it returns (a destroyed session cannot come back after
a crash), and expiry is checked against wall-clock times that survive the restart. Without a
path the table lives in memory only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import WarlockError
from ..fsutil import remove
from .jsonfile import JsonFile

COOKIE = "warlock_session"
COOKIE_TLS = "__Host-warlock_session"  # the prefix makes browsers insist on Secure, Path=/
IDLE = 30 * 60.0
ABSOLUTE = 12 * 3600.0
PER_USER = 16  # a user's oldest session goes when a 17th starts
CAP = 4096  # sessions in all: the oldest goes first
PERSIST_EVERY = 60.0
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def csrf_token(token: str) -> str:
    mac = hmac.new(token.encode("ascii"), b"warlock csrf v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(token).encode(), presented.encode("utf-8", "replace"))


def cookie_name(tls: bool) -> str:
    return COOKIE_TLS if tls else COOKIE


def session_cookie(token: str, *, tls: bool, max_age: int = int(ABSOLUTE)) -> str:
    """A Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's
    page sends it), Path=/, Secure under TLS (never sent in clear)."""
    parts = [f"{cookie_name(tls)}={token}", "Path=/", f"Max-Age={max_age}", "HttpOnly"]
    parts += ["SameSite=Strict"] + (["Secure"] if tls else [])
    return "; ".join(parts)


def clear_cookie(*, tls: bool) -> str:
    return session_cookie("", tls=tls, max_age=0)


class Session(NamedTuple):
    key: str  # SHA-256 of the token
    user: str
    stamp: str  # the user's stamp at login (users.py): a new password ends the session
    created: float  # wall-clock seconds
    last_seen: float
    address: str = ""

    def expired(self, now: float, idle: float, absolute: float) -> bool:
        return now - self.last_seen >= idle or now - self.created >= absolute


class SessionStore:
    def __init__(
        self,
        path: Path | None = None,
        *,
        idle: float = IDLE,
        absolute: float = ABSOLUTE,
        per_user: int = PER_USER,
        cap: int = CAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = JsonFile(path) if path is not None else None
        self.idle, self.absolute, self.per_user, self.cap = idle, absolute, per_user, cap
        self.clock = clock
        self._mutex = threading.Lock()
        self._table: dict[str, Session] = {}  # insertion order: oldest first
        self._dirty = False
        self._persisted = clock()
        if self.file is not None:
            self._load()

    def create(self, user: str, stamp: str, address: str = "") -> tuple[Session, str]:
        """A new session and its token (the cookie's value); a login always makes a fresh
        one, so a token planted before login (session fixation) is never adopted."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(_key(token), user, stamp, now, now, address[:64])
        with self._mutex:
            self._purge(now)
            mine = [s for s in self._table.values() if s.user == user]
            for old in mine[: max(0, len(mine) - self.per_user + 1)]:
                del self._table[old.key]
            while len(self._table) >= self.cap:
                del self._table[next(iter(self._table))]
            self._table[session.key] = session
            self._save()
        return session, token

    def get(self, token: str | None) -> Session | None:
        """The live session of a token, its idle time reset; None if unknown or expired."""
        if not token or not _TOKEN_RE.fullmatch(token):
            return None
        now = self.clock()
        with self._mutex:
            s = self._table.get(_key(token))
            if s is None:
                return None
            if s.expired(now, self.idle, self.absolute):
                del self._table[s.key]
                self._save()
                return None
            s = self._table[s.key] = s._replace(last_seen=now)
            self._dirty = True
            if now - self._persisted >= PERSIST_EVERY:
                self._save()
            return s

    def destroy(self, token: str | None) -> bool:
        """Logout: the session is gone, on disk too, when this returns."""
        if not token or not _TOKEN_RE.fullmatch(token):
            return False
        with self._mutex:
            gone = self._table.pop(_key(token), None) is not None
            if gone:
                self._save()
            return gone

    def destroy_user(self, user: str) -> int:
        with self._mutex:
            keys = [k for k, s in self._table.items() if s.user == user]
            for k in keys:
                del self._table[k]
            if keys:
                self._save()
            return len(keys)

    def sessions(self, user: str | None = None) -> list[Session]:
        now = self.clock()
        with self._mutex:
            return [
                s
                for s in self._table.values()
                if (user is None or s.user == user) and not s.expired(now, self.idle, self.absolute)
            ]

    def flush(self) -> None:
        with self._mutex:
            if self._dirty:
                self._save()

    def _purge(self, now: float) -> None:
        for k in [k for k, s in self._table.items() if s.expired(now, self.idle, self.absolute)]:
            del self._table[k]

    def _save(self) -> None:
        """Called under the mutex. If the write fails (a full disk), the file is removed rather
        than left stale: a restart then logs everyone out instead of bringing back a session
        that was logged out meanwhile."""
        self._dirty, self._persisted = False, self.clock()
        if self.file is None:
            return
        rows = [s._asdict() for s in self._table.values()]

        def write(doc: dict[str, Any]) -> None:
            doc.clear()
            doc.update(version=1, sessions=rows)

        try:
            self.file.update(write)
        except (OSError, WarlockError):
            self._dirty = True
            with contextlib.suppress(OSError):
                remove(self.file.path)

    def _load(self) -> None:
        assert self.file is not None
        now = self.clock()
        try:
            rows = self.file.read().get("sessions", [])
            loaded = [
                Session(
                    str(r["key"]),
                    str(r["user"]),
                    str(r["stamp"]),
                    float(r["created"]),
                    float(r["last_seen"]),
                    str(r.get("address", "")),
                )
                for r in rows
            ]
        except (KeyError, TypeError, ValueError, AttributeError, WarlockError):
            loaded = []  # a bad file logs everyone out; it is rewritten on the next login
        for s in sorted(loaded, key=lambda s: s.created)[-self.cap :]:
            if not s.expired(now, self.idle, self.absolute):
                self._table[s.key] = s
