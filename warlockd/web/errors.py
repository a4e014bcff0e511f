"""How every error reaches an HTTP client: JSON `{"error": ..., "hint": ...}` with the
status its kind of failure calls for, one table for every route, never a traceback.

    401 Unauthorized: no credentials, or wrong ones      403 Forbidden: not allowed
    404 NotFound (and instances a caller may not see)    408 TooSlow: a request sent too slowly
    409 Conflict, NeedsConfirmation, and a command that could not be done in the host's
        current state (a console command to a stopped game)
    400 InvalidInput: a command refused what it was given   413 TooLarge: a body over the limit
    422 Malformed: a request that does not parse (an id that is no id, a bad duration, and
        the schema's own checks)                          429 RateLimited (Retry-After)
    502 SystemdError, CommandError: systemd or a program we ran failed at it
    503 Unavailable: too many streams or operations (Retry-After)
    500 anything else (the journal has the traceback)
"""

from __future__ import annotations

from ..errors import (
    CommandError,
    Conflict,
    InvalidInput,
    NeedsConfirmation,
    NotFound,
    SystemdError,
    WarlockError,
)
from .principal import Forbidden, Unauthorized
from .ratelimit import RateLimited


class Malformed(InvalidInput):
    """A request that does not parse: 422."""


class TooLarge(WarlockError):
    """A request body over the limit: 413."""


class TooSlow(WarlockError):
    """A request whose headers or body came too slowly: 408."""


class Unavailable(WarlockError):
    """Too many streams or operations at once: 503, with Retry-After."""

    retry_after = 5


class Failed(WarlockError):
    """A command that failed elsewhere (an operation's unit), with the status it got there."""

    def __init__(self, message: str, hint: str | None, status: int) -> None:
        super().__init__(message, hint)
        self.status = status


_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (TooSlow, 408),
    (NeedsConfirmation, 409),
    (Malformed, 422),
    (InvalidInput, 400),
    (Conflict, 409),
    (TooLarge, 413),
    (RateLimited, 429),
    (SystemdError, 502),
    (CommandError, 502),
    (Unavailable, 503),
)
_INTERNAL = ("CorruptRecord", "StoreError")  # the host's own state is broken: 500


def status_of(exc: WarlockError) -> int:
    if isinstance(exc, Failed):
        return exc.status
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500 if type(exc).__name__ in _INTERNAL else 409


def body_of(exc: WarlockError) -> dict[str, str | None]:
    hint = exc.hint
    if isinstance(exc, NeedsConfirmation) and hint is None:
        hint = exc.question.strip()
    return {"error": exc.message, "hint": hint}


def headers_of(exc: WarlockError) -> dict[str, str]:
    status = status_of(exc)
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="warlockd"'}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unavailable):
        return {"Retry-After": str(exc.retry_after)}
    return {}
