"""System users, one per instance, so one compromised server cannot touch another."""

from __future__ import annotations

import os
import pwd
from typing import Protocol

from .run import run


class Accounts(Protocol):
    def ensure(self, name: str, home: str) -> tuple[int, int]:
        """Create the user (and its group) if missing; return (uid, gid)."""
        ...

    def remove(self, name: str) -> bool: ...
    def exists(self, name: str) -> bool: ...


class SystemAccounts:
    def exists(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def ensure(self, name: str, home: str) -> tuple[int, int]:
        if not self.exists(name):
            run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
                 "--shell", "/usr/sbin/nologin", "--comment", "warlock game instance", name])  # fmt: skip
        pw = pwd.getpwnam(name)
        return pw.pw_uid, pw.pw_gid

    def remove(self, name: str) -> bool:
        if not self.exists(name):
            return False
        run(["userdel", name])
        return True


class MemoryAccounts:
    """For unit tests without root: every user maps to the caller's own uid."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}

    def exists(self, name: str) -> bool:
        return name in self.users

    def ensure(self, name: str, home: str) -> tuple[int, int]:
        self.users.setdefault(name, home)
        return os.getuid(), os.getgid()

    def remove(self, name: str) -> bool:
        return self.users.pop(name, None) is not None
