"""Who is asking and what they may do: scopes, the Principal, and the access errors.

A principal restricted to some instances is told that any other instance does not exist
(404, with the registry's own wording), never that it is forbidden (403): a 403 would confirm
that the id is real."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import NamedTuple

from ..errors import InvalidInput, NotFound, WarlockError
from ..model import parse_id


class Unauthorized(WarlockError):
    """No credentials, or wrong ones: HTTP 401."""


class Forbidden(WarlockError):
    """Known caller, not allowed (scope too low, cross-site request, bad CSRF token): 403."""


class Scope(IntEnum):
    """Ordered: each scope includes the ones below it."""

    READ = 1  # look: list, status, metrics, events, logs
    OPERATE = 2  # act on instances: start, stop, restart, backup, update
    ADMIN = 3  # change the host: create and delete instances, keys, users

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InvalidInput(
                f"unknown scope {text[:32]!r}", hint="one of: read, operate, admin"
            ) from None


def validate_instances(ids: Iterable[str] | None) -> tuple[str, ...] | None:
    """None means every instance; a list is validated, deduplicated and sorted. An empty list
    is refused: a key that sees nothing is a mistake, not a policy."""
    if ids is None:
        return None
    if isinstance(ids, str):  # a lone id would iterate into characters
        ids = [ids]
    out = tuple(sorted({parse_id(str(i)) for i in ids}))
    if not out:
        raise InvalidInput("the instance list is empty", hint="omit it to allow every instance")
    return out


def no_instance(instance_id: str) -> NotFound:
    """The very error the registry gives for an instance that does not exist."""
    shown = instance_id.encode("unicode_escape").decode()[:80]
    return NotFound(f"no instance {shown}", hint="`manage.py list` shows the instances")


class Principal(NamedTuple):
    who: str  # "key:<name>" or "user:<name>": what the event log records
    scope: Scope
    instances: frozenset[str] | None = None  # None: every instance
    key_id: str | None = None  # the API key's id, so two keys named alike stay apart in logs

    @property
    def host_wide(self) -> bool:
        return self.instances is None

    def can(self, needed: Scope) -> bool:
        return self.scope >= needed

    def sees(self, instance_id: str) -> bool:
        return self.instances is None or instance_id in self.instances

    def visible(self, instance_ids: Iterable[str]) -> list[str]:
        """What a listing may show this principal."""
        return [i for i in instance_ids if self.sees(i)]

    def require(self, needed: Scope, instance_id: str | None = None) -> None:
        """Raise unless allowed. The instance comes first: outside the principal's list it is
        404 whatever the scope, so a low scope on a hidden instance reveals nothing either."""
        if instance_id is not None and not self.sees(instance_id):
            raise no_instance(instance_id)
        if not self.can(needed):
            raise Forbidden(
                f"{self.who} has scope {self.scope}; this needs {needed}",
                hint="ask an admin for a key or account with a higher scope",
            )

    def require_host(self, needed: Scope) -> None:
        """For host-wide actions (create an instance, manage keys and users): a principal
        restricted to some instances may not do them, whatever its scope."""
        self.require(needed)
        if not self.host_wide:
            raise Forbidden(
                f"{self.who} is restricted to some instances; this acts on the whole host",
                hint="use a key or account without an instance list",
            )
