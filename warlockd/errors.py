"""One exception tree; caught only in cli.py (and later the daemon loop)."""

from __future__ import annotations


class WarlockError(Exception):
    """An error the user can act on: one line, plus an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class InvalidInput(WarlockError, ValueError):
    exit_code = 2


class NotFound(WarlockError, LookupError):
    pass


class Conflict(WarlockError):
    pass


class CorruptRecord(WarlockError):
    pass


class SystemdError(WarlockError):
    pass


class CommandError(WarlockError):
    """A child process failed; the message carries the tail of its stderr."""
