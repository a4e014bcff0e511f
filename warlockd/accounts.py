"""System users, one per instance, so one compromised server cannot touch another."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Protocol

from .errors import WarlockError
from .run import run


class Accounts(Protocol):
    def ensure(self, name: str, home: str) -> tuple[int, int]:
        """Create the user (and its group) if missing; return (uid, gid)."""
        ...

    def remove(self, name: str) -> bool: ...
    def exists(self, name: str) -> bool: ...
    def check_reachable(self, path: Path) -> None:
        """Refuse when an instance user could not reach `path` (the app's files)."""
        ...


# Every game unit gets a /tmp and /var/tmp of its own (PrivateTmp=yes): the host's are
# not where the unit would look.
_PRIVATE = (Path("/tmp"), Path("/var/tmp"))


class SystemAccounts:
    def check_reachable(self, path: Path) -> None:
        for private in _PRIVATE:
            if path.is_relative_to(private):
                raise WarlockError(
                    f"{path} is under {private}, which game units cannot see (each has its own)",
                    hint="install the package, or put warlockd elsewhere (e.g. /opt/warlockd)",
                )
        # Instance users share no group with anyone: the "others" bits decide.
        for d in [path, *path.parents]:
            if d.exists() and not d.stat().st_mode & 0o001:
                raise WarlockError(
                    f"{path} is not reachable by instance users: {d} has no x bit for others",
                    hint=f"chmod o+x {d}, or put warlockd outside it (e.g. under /opt)",
                )

    def exists(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def ensure(self, name: str, home: str) -> tuple[int, int]:
        if not self.exists(name):
            run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    home,
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    "warlock game instance",
                    name,
                ]
            )
        pw = pwd.getpwnam(name)
        return pw.pw_uid, pw.pw_gid

    def remove(self, name: str) -> bool:
        if not self.exists(name):
            return False
        run(["userdel", name])
        return True


class MemoryAccounts:
    """For unit tests without root: every user maps to the caller's own uid."""

    def check_reachable(self, path: Path) -> None:
        pass

    def __init__(self) -> None:
        self.users: dict[str, str] = {}

    def exists(self, name: str) -> bool:
        return name in self.users

    def ensure(self, name: str, home: str) -> tuple[int, int]:
        self.users.setdefault(name, home)
        return os.getuid(), os.getgid()

    def remove(self, name: str) -> bool:
        return self.users.pop(name, None) is not None
