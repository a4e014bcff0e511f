"""Dashboard users, their passwords hashed with argon2id (python3-argon2).

Why argon2id: it is the memory-hard hash that RFC 9106 and OWASP recommend first, it is in
Debian (python3-argon2, argon2-cffi 21.1 on bookworm), and its PHC string
($argon2id$v=19$m=...,t=...,p=...$salt$hash) carries its own parameters, so they can be raised
later: a login whose hash was made with older parameters is rehashed on the spot
(needs_rehash). hashlib.scrypt would have spared one dependency, but it has no standard
encoded form (we would invent one) and argon2id's side-channel resistance (the "id" half)
fits a shared host better. One algorithm only: no fallback path that tests would cover half.

Parameters: RFC 9106's second recommended option (t=3, m=64 MiB, p=4), about 0.15 s on a
small host. At most two hashes run at once (a semaphore), so a flood of logins from many
addresses costs at most 128 MiB and two cores' worth of waiting, not the host's memory.

A user's `stamp` is random and changes with the password: a session remembers the stamp it
was made under, so changing a password (or removing and re-adding a user) ends its sessions.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import argon2  # type: ignore[import-untyped]  # argon2-cffi 21.1 ships no py.typed

from ..errors import Conflict, CorruptRecord, InvalidInput, NotFound
from .jsonfile import JsonFile
from .principal import Principal, Scope, validate_instances

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # bytes of hashing input stay bounded
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
TIME_COST, MEMORY_COST, PARALLELISM = 3, 64 * 1024, 4  # KiB for memory
_HASHING = threading.BoundedSemaphore(2)


def make_hasher(
    time_cost: int = TIME_COST, memory_cost: int = MEMORY_COST, parallelism: int = PARALLELISM
) -> Any:
    return argon2.PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=argon2.Type.ID,
    )


def validate_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid user name {str(name)[:70]!r}",
            hint="1 to 64 of a-z 0-9 . _ @ -, starting with a letter or digit",
        )
    return name


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password is shorter than {MIN_PASSWORD} characters")
    if len(password.encode()) > MAX_PASSWORD:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD} bytes")
    if "\n" in password or "\r" in password or "\0" in password:
        raise InvalidInput("the password contains a line break or NUL")
    return password


def read_password(stdin: TextIO | None = None, confirm: bool = True) -> str:
    """The password for `warlock user add|passwd`: typed twice at a terminal (no echo), or
    the first line of standard input when it is not one (`... < file`, a pipe). Never from
    argv: any user can read another's command line in /proc."""
    import getpass

    stream = sys.stdin if stdin is None else stdin
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise InvalidInput("the two passwords differ")
        return validate_password(first)
    line = stream.readline()
    return validate_password(line.removesuffix("\n").removesuffix("\r"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class User(NamedTuple):
    name: str
    scope: Scope
    instances: tuple[str, ...] | None
    created_at: str
    password_changed_at: str
    stamp: str  # changes with the password: see the module's docstring

    def principal(self) -> Principal:
        inst = None if self.instances is None else frozenset(self.instances)
        return Principal(f"user:{self.name}", self.scope, inst)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict() | {
            "scope": str(self.scope),
            "instances": None if self.instances is None else list(self.instances),
        }


def _parse(raw: Any) -> tuple[User, str]:
    try:
        hashed = str(raw["hash"])
        if not hashed.startswith("$argon2id$"):
            raise InvalidInput("hash is not an argon2id PHC string")
        user = User(
            name=validate_user_name(str(raw["name"])),
            scope=Scope.parse(str(raw["scope"])),
            instances=validate_instances(raw.get("instances")),
            created_at=str(raw["created_at"]),
            password_changed_at=str(raw["password_changed_at"]),
            stamp=str(raw["stamp"]),
        )
        return user, hashed
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        name = raw.get("name", "?") if isinstance(raw, dict) else "?"
        raise CorruptRecord(f"user record {str(name)[:70]!r}: {e}") from None


class UserStore:
    def __init__(self, path: Path, *, hasher: Any = None) -> None:
        self.file = JsonFile(path)
        self.hasher = hasher if hasher is not None else make_hasher()
        self._dummy: str | None = None  # verified against for unknown names (same timing)

    def _hash(self, password: str) -> str:
        with _HASHING:
            return str(self.hasher.hash(password))

    def _rows(self) -> dict[str, tuple[User, str]]:
        return {u.name: (u, h) for u, h in map(_parse, self.file.read().get("users", []))}

    # -- the CLI's side ------------------------------------------------------------------
    def add(
        self,
        name: str,
        password: str,
        scope: Scope | None = None,
        instances: Iterable[str] | None = None,
    ) -> User:
        """A new user; without a scope, the first user is admin (someone must be able to add
        the others) and every later one read (least privilege until an admin says more)."""
        name = validate_user_name(name)
        inst = validate_instances(instances)
        hashed = self._hash(validate_password(password))  # before the lock: it is slow
        now = _now()

        def insert(doc: dict[str, Any]) -> User:
            rows = doc.setdefault("users", [])
            doc["version"] = 1
            if any(str(r.get("name")) == name for r in rows):
                raise Conflict(f"user {name!r} exists", hint=f"warlock user passwd {name}")
            chosen = scope if scope is not None else (Scope.READ if rows else Scope.ADMIN)
            user = User(name, Scope(chosen), inst, now, now, secrets.token_hex(8))
            rows.append(user.to_dict() | {"hash": hashed})
            return user

        return self.file.update(insert)

    def remove(self, name: str) -> User:
        def drop(doc: dict[str, Any]) -> User:
            rows = doc.get("users", [])
            for i, raw in enumerate(rows):
                if raw.get("name") == name:
                    user, _ = _parse(rows.pop(i))
                    return user
            raise NotFound(f"no user {name!r}", hint="warlock user list")

        return self.file.update(drop)

    def set_password(self, name: str, password: str) -> User:
        """A new password and a new stamp: the user's sessions end."""
        hashed = self._hash(validate_password(password))
        user = self._replace_hash(name, hashed, new_stamp=True)
        assert user is not None  # without only_if, a missing user raises
        return user

    def list(self) -> list[User]:
        return sorted((u for u, _ in self._rows().values()), key=lambda u: u.name)

    def get(self, name: str) -> User | None:
        found = self._rows().get(name)
        return found[0] if found else None

    # -- the daemon's side ---------------------------------------------------------------
    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is right. An unknown name costs one hash as well, so the
        answer's timing does not tell which names exist. Rehashes an outdated hash."""
        name = name.strip().lower() if isinstance(name, str) else ""
        if not isinstance(password, str) or len(password.encode()) > MAX_PASSWORD:
            return None
        found = self._rows().get(name)
        if found is None:
            self._check(self._dummy_hash(), password)
            return None
        user, hashed = found
        if not self._check(hashed, password):
            return None
        if self.hasher.check_needs_rehash(hashed):
            new = self._hash(password)
            # the stamp stays: a parameter upgrade must not log the user's other sessions out
            user = self._replace_hash(name, new, new_stamp=False, only_if=hashed) or user
        return user

    def _check(self, hashed: str, password: str) -> bool:
        try:
            with _HASHING:
                return bool(self.hasher.verify(hashed, password))
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHash):
            return False

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hash(secrets.token_urlsafe(16))
        return self._dummy

    def _replace_hash(
        self, name: str, hashed: str, *, new_stamp: bool, only_if: str | None = None
    ) -> User | None:
        def change(doc: dict[str, Any]) -> User | None:
            for raw in doc.get("users", []):
                if raw.get("name") != name:
                    continue
                if only_if is not None and raw.get("hash") != only_if:
                    return None  # changed meanwhile (passwd from the CLI): leave it
                raw["hash"] = hashed
                if new_stamp:
                    raw["stamp"] = secrets.token_hex(8)
                    raw["password_changed_at"] = _now()
                return _parse(raw)[0]
            if only_if is not None:
                return None
            raise NotFound(f"no user {name!r}", hint="warlock user list")

        return self.file.update(change)
