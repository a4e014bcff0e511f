"""Login attempts, limited per client address and per user name, with exponential back-off.

Each attempt counts as a failure *before* the password is checked (attempt()), and a right
password takes it back (succeeded()): so a burst of parallel guesses cannot all slip through
the check before the first failure is recorded. Past `free` failures, each further one doubles
the lock-out (1 s, 2 s, 4 s ... up to `max_delay`); while locked, every attempt is refused
with the time left (HTTP 429, Retry-After) without looking at the password, so a right
password does not get through either (and costs no hash). Failures are forgotten after
`forget` seconds of quiet.

The address allows more failures than the name, so an attacker who locks a name out does not
lock out the other users behind the same address (a NAT), and one who tries many names from
one address is stopped by the address. An address that is locked records nothing against
names, so it cannot flood the table. Each table holds at most `cap` entries; the least
recently failed go first. The price of per-name limits is that anyone can keep a name locked
for up to `max_delay`: the admin still has the CLI, and API keys are not rate-limited here.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from ..errors import WarlockError


class RateLimited(WarlockError):
    """Too many attempts: HTTP 429 with Retry-After."""

    def __init__(self, message: str, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = max(1, math.ceil(retry_after))


class _Entry(NamedTuple):
    failures: int
    last: float  # when the last failure was counted
    locked_until: float


class Limit(NamedTuple):
    free: int  # failures allowed before any lock-out
    base: float = 1.0  # the first lock-out, in seconds; doubles with each failure
    max_delay: float = 900.0
    forget: float = 900.0  # quiet time after which the failures are forgotten


class _Table:
    def __init__(self, limit: Limit, cap: int) -> None:
        self.limit, self.cap = limit, cap
        self.rows: OrderedDict[str, _Entry] = OrderedDict()

    def current(self, key: str, now: float) -> _Entry | None:
        e = self.rows.get(key)
        if e is not None and now - e.last > self.limit.forget and now >= e.locked_until:
            del self.rows[key]
            return None
        return e

    def wait(self, key: str, now: float) -> float:
        e = self.current(key, now)
        return 0.0 if e is None else max(0.0, e.locked_until - now)

    def delay(self, failures: int) -> float:
        over = failures - self.limit.free
        return 0.0 if over <= 0 else min(self.limit.max_delay, self.limit.base * 2 ** (over - 1))

    def fail(self, key: str, now: float) -> None:
        e = self.current(key, now)
        n = 1 if e is None else e.failures + 1
        self.rows[key] = _Entry(n, now, now + self.delay(n))
        self.rows.move_to_end(key)
        while len(self.rows) > self.cap:
            self.rows.popitem(last=False)

    def undo(self, key: str, now: float, reset: bool) -> None:
        e = self.current(key, now)
        if e is None:
            return
        if reset or e.failures <= 1:
            del self.rows[key]
        else:
            n = e.failures - 1
            self.rows[key] = e._replace(failures=n, locked_until=e.last + self.delay(n))


USER_LIMIT = Limit(free=5)
ADDRESS_LIMIT = Limit(free=20)


class LoginLimiter:
    def __init__(
        self,
        *,
        per_user: Limit = USER_LIMIT,
        per_address: Limit = ADDRESS_LIMIT,
        cap: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.users = _Table(per_user, cap)
        self.addresses = _Table(per_address, cap)
        self._mutex = threading.Lock()

    @staticmethod
    def _user(name: str) -> str:
        return name.strip().lower()[:64]

    def attempt(self, address: str, user: str) -> None:
        """Before checking a password: raise RateLimited while locked, else count a failure."""
        now, user = self.clock(), self._user(user)
        with self._mutex:
            wait = self.addresses.wait(address, now)
            who = "from this address"
            if wait <= 0:
                wait, who = self.users.wait(user, now), "for this user name"
            if wait > 0:
                raise RateLimited(
                    f"too many failed logins {who}; try again in {math.ceil(wait)} s",
                    wait,
                    hint="each further failure doubles the wait",
                )
            self.addresses.fail(address, now)
            self.users.fail(user, now)

    def succeeded(self, address: str, user: str) -> None:
        """After a right password: the name starts afresh; the address gets back the one
        failure attempt() counted, and keeps any earlier ones (guesses at other names)."""
        now, user = self.clock(), self._user(user)
        with self._mutex:
            self.users.undo(user, now, reset=True)
            self.addresses.undo(address, now, reset=False)
