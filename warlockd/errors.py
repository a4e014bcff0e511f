"""One exception tree; caught by the front doors (cli/run.py, the D-Bus API) and the
daemon loop, each turning it into one line with its hint."""

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


class NeedsConfirmation(InvalidInput):
    """Refused without --yes; a front door with a person at it may ask `question` and
    call again with yes."""

    def __init__(self, message: str, question: str) -> None:
        super().__init__(message)
        self.question = question


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
