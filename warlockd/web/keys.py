"""API keys: `wlk_<id>_<secret>`, shown once, stored as SHA-256 hashes in a root-only file.

Why SHA-256 and not a slow hash: a slow, memory-hard hash (users.py) exists to make guessing
low-entropy secrets (passwords) expensive after the hash file leaks. A key's secret is 256
random bits: a leaked hash gives an attacker a preimage search over 2**256 candidates, out of
reach at any cost per guess, so slowing each guess buys nothing. It would cost on every
request instead (each API call verifies a key), and a memory-hard hash per request would
hand anyone who can reach the port a cheap way to exhaust the host's memory.

The id in the key makes lookup one dict access; the comparison of hashes is constant-time
(hmac.compare_digest), and an unknown id is compared against a dummy hash, so a wrong key
costs the same whether or not its id exists. The file is reread whenever it changes on disk
(JsonFile), so a key revoked by the CLI stops working in the running daemon at its next use.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import Conflict, CorruptRecord, InvalidInput, NotFound, WarlockError
from .jsonfile import JsonFile
from .principal import Principal, Scope, validate_instances

PREFIX = "wlk"
SECRET_BYTES = 32  # 256 bits
MAX_NAME = 64
TOUCH_EVERY = 60.0  # seconds: last_used is written at most this often
_KEY_RE = re.compile(r"wlk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_ID_RE = re.compile(r"[0-9a-f]{16}")
_DUMMY = hashlib.sha256(b"no such key").digest()


def _now_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def parse_key(text: str) -> str | None:
    """The key id of a well-formed key, else None (nothing is hashed for a malformed one)."""
    m = _KEY_RE.fullmatch(text)
    return m.group(1) if m else None


def validate_key_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("an API key needs a name", hint="e.g. --name ci-deploy")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"key name is {len(name)} characters long, at most {MAX_NAME}")
    if not name.isprintable() or name != name.strip():
        raise InvalidInput("key name has a control character or surrounding spaces")
    if _ID_RE.fullmatch(name):
        raise InvalidInput(
            f"key name {name!r} looks like a key id", hint="revoke takes a name or an id"
        )
    return name


class ApiKey(NamedTuple):
    """A key as listed: everything but its hash."""

    id: str
    name: str
    scope: Scope
    instances: tuple[str, ...] | None  # None: every instance
    created_at: str
    last_used: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        inst = None if self.instances is None else frozenset(self.instances)
        return Principal(f"key:{self.name}", self.scope, inst, self.id)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict() | {"scope": str(self.scope), "instances": self._list()}

    def _list(self) -> list[str] | None:
        return None if self.instances is None else list(self.instances)


def _parse(raw: Any) -> tuple[ApiKey, bytes]:
    try:
        if not _ID_RE.fullmatch(str(raw["id"])):
            raise InvalidInput(f"bad key id {raw['id']!r}")
        algo, _, hexhash = str(raw["hash"]).partition(":")
        if algo != "sha256" or len(hexhash) != 64:
            raise InvalidInput("hash is not sha256:<64 hex digits>")
        key = ApiKey(
            id=str(raw["id"]),
            name=validate_key_name(str(raw["name"])),
            scope=Scope.parse(str(raw["scope"])),
            instances=validate_instances(raw.get("instances")),
            created_at=str(raw["created_at"]),
            last_used=None if raw.get("last_used") is None else str(raw["last_used"]),
            revoked_at=None if raw.get("revoked_at") is None else str(raw["revoked_at"]),
        )
        return key, bytes.fromhex(hexhash)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        shown = raw.get("id", "?") if isinstance(raw, dict) else "?"
        raise CorruptRecord(f"API key record {str(shown)[:20]!r}: {e}") from None


class KeyStore:
    """The API keys of one file; safe to share between the daemon's threads."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.file = JsonFile(path)
        self.clock = clock
        self._mutex = threading.Lock()
        self._doc: dict[str, Any] | None = None  # the document self._by_id was built from
        self._by_id: dict[str, tuple[ApiKey, bytes]] = {}
        self._pending: dict[str, float] = {}  # last uses not yet written
        self._flushed = 0.0

    # -- the CLI's side ------------------------------------------------------------------
    def create(
        self, name: str, scope: Scope, instances: Iterable[str] | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its text, which is shown once and never stored."""
        name = validate_key_name(name)
        inst = validate_instances(instances)
        key_id = secrets.token_hex(8)
        text = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        assert parse_key(text) == key_id
        key = ApiKey(key_id, name, Scope(scope), inst, _now_iso(self.clock()))

        def add(doc: dict[str, Any]) -> None:
            rows = doc.setdefault("keys", [])
            doc["version"] = 1
            for raw in rows:
                other, _ = _parse(raw)
                if other.active and other.name == name:
                    raise Conflict(
                        f"an API key named {name!r} exists",
                        hint=f"revoke it first: warlock api-key revoke {name}",
                    )
                if other.id == key_id:  # 64 random bits colliding: try again, don't overwrite
                    raise Conflict("key id collision, please retry")
            rows.append(key.to_dict() | {"hash": "sha256:" + _digest(text).hex()})

        self.file.update(add)
        return key, text

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        keys = [k for k, _ in self._index().values()]
        return sorted(
            (k for k in keys if include_revoked or k.active), key=lambda k: (k.created_at, k.id)
        )

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the active key of that name, or the key of that id; revoking a revoked key
        changes nothing. The record stays (revoked) so the event log's key ids keep a name."""
        when = _now_iso(self.clock())

        def mark(doc: dict[str, Any]) -> ApiKey:
            rows = doc.get("keys", [])
            for i, raw in enumerate(rows):
                key, _ = _parse(raw)
                if key.id == name_or_id or (key.active and key.name == name_or_id):
                    if key.active:
                        rows[i] = raw | {"revoked_at": when}
                        return key._replace(revoked_at=when)
                    return key
            raise NotFound(f"no active API key named {name_or_id!r}", hint="warlock api-key list")

        return self.file.update(mark)

    # -- the daemon's side ---------------------------------------------------------------
    def verify(self, text: str) -> Principal | None:
        """The key's principal, or None for a malformed, unknown, wrong or revoked key."""
        if not isinstance(text, str):
            return None
        key_id = parse_key(text)
        if key_id is None:
            return None
        found = self._index().get(key_id)
        expected = found[1] if found else _DUMMY
        if not hmac.compare_digest(_digest(text), expected) or found is None:
            return None
        key = found[0]
        if not key.active:
            return None
        self._touch(key.id)
        return key.principal()

    def active(self, key_id: str) -> ApiKey | None:
        """The key of that id while it is not revoked (a dashboard session made with it
        asks at each request, so revoking the key ends the session too)."""
        found = self._index().get(key_id)
        if found is None or not found[0].active:
            return None
        self._touch(key_id)
        return found[0]

    def flush(self) -> None:
        """Write the pending last uses (the daemon calls this on shutdown too)."""
        with self._mutex:
            pending, self._pending = self._pending, {}
            self._flushed = self.clock()
        if not pending:
            return

        def stamp(doc: dict[str, Any]) -> None:
            for raw in doc.get("keys", []):
                when = pending.get(str(raw.get("id")))
                if when is not None:
                    raw["last_used"] = _now_iso(when)

        try:
            self.file.update(stamp)
        except (OSError, WarlockError):
            with self._mutex:  # a full disk must not fail the request: retry next time
                self._pending = pending | self._pending

    def _touch(self, key_id: str) -> None:
        now = self.clock()
        with self._mutex:
            last = self._pending.get(key_id) or self._last_used(key_id)
            if last is not None and now - last < TOUCH_EVERY:
                return
            self._pending[key_id] = now
            due = now - self._flushed >= TOUCH_EVERY
        if due:
            self.flush()

    def _last_used(self, key_id: str) -> float | None:
        found = self._by_id.get(key_id)
        if found is None or found[0].last_used is None:
            return None
        return datetime.fromisoformat(found[0].last_used).timestamp()

    def _index(self) -> dict[str, tuple[ApiKey, bytes]]:
        doc = self.file.read()
        with self._mutex:
            if doc is not self._doc:
                self._by_id = {k.id: (k, h) for k, h in map(_parse, doc.get("keys", []))}
                self._doc = doc
            return self._by_id
