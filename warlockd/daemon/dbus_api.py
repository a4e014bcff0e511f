"""The D-Bus front door: `org.warlock.Manager1` on the system bus (its methods, signal,
property and errors); dbus_server.py publishes it with pydbus.

A call goes: dbus-daemon (policy: root and group `warlock`, data/org.warlock.Manager1.conf)
→ the GLib loop thread of ApiServer → a worker thread → Manager1 (parse_id: the id is
checked here, at the boundary) → the Backend (backend.py), which calls the same commands
as manage.py, through the table (warlockd/commands.py).

Concurrency. pydbus 0.6.0 answers a call with whatever the Python method returns, on the
loop thread, so a Start that waits seconds for a systemd job would stall every other
caller, signal and property read. Gio itself allows a late reply (keep the
GDBusMethodInvocation, return on it later), so ApiServer keeps pydbus for the connection,
the name, the registration, signals and properties, and overrides the one method of its
ObjectWrapper that dispatches calls: Manager1 methods run in thread pools and their reply
is sent from the loop thread when done. Start/Stop/Restart share one pool and
List/Get/GetMetrics another, so queries answer while actions are in progress. The Backend
is therefore called from several threads at once.

Errors. pydbus 0.6.0 names an error after the exception's class (`unknown.NotFound`) and
logs a traceback for each; here NotFound, InvalidInput and any other failure become
org.warlock.Error.{NotFound,InvalidInput,Failed} with the one-line message (hint included).

pydbus and gi are imported inside ApiServer only: importing this module costs no GLib.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from .. import __version__
from ..errors import InvalidInput, NotFound, WarlockError
from ..model import InstanceId, parse_id

BUS_NAME = "org.warlock.Manager1"
OBJECT_PATH = "/org/warlock/Manager1"
INTERFACE = "org.warlock.Manager1"
ERROR_NOT_FOUND = "org.warlock.Error.NotFound"
ERROR_INVALID_INPUT = "org.warlock.Error.InvalidInput"
ERROR_FAILED = "org.warlock.Error.Failed"
POLICY_DIR = "/usr/share/dbus-1/system.d"

INTROSPECTION = """
<node>
  <interface name="org.warlock.Manager1">
    <method name="ListInstances">
      <arg name="instances" type="a(sssss)" direction="out"/>
    </method>
    <method name="GetInstance">
      <arg name="id" type="s" direction="in"/>
      <arg name="instance" type="s" direction="out"/>
    </method>
    <method name="Start"><arg name="id" type="s" direction="in"/></method>
    <method name="Stop"><arg name="id" type="s" direction="in"/></method>
    <method name="Restart"><arg name="id" type="s" direction="in"/></method>
    <method name="Backup">
      <arg name="id" type="s" direction="in"/>
      <arg name="max_backups" type="u" direction="in"/>
      <arg name="backup" type="s" direction="out"/>
    </method>
    <method name="GetMetrics">
      <arg name="id" type="s" direction="in"/>
      <arg name="metrics" type="s" direction="out"/>
    </method>
    <signal name="InstanceChanged">
      <arg name="id" type="s"/>
      <arg name="status" type="s"/>
    </signal>
    <property name="Version" type="s" access="read"/>
  </interface>
</node>
"""

InstanceRow = tuple[str, str, str, str, str]


class Backend(Protocol):
    """What the API needs from the daemon; called from worker threads, concurrently."""

    def list_instances(self) -> list[InstanceRow]:
        """(id, name, app slug, status, unit) for every instance."""

    def get_instance(self, instance_id: InstanceId) -> str:
        """The instance as JSON text."""

    def start(self, instance_id: InstanceId) -> None: ...

    def stop(self, instance_id: InstanceId) -> None: ...

    def restart(self, instance_id: InstanceId) -> None: ...

    def backup(self, instance_id: InstanceId, max_backups: int | None) -> str:
        """Archive the instance's saves (keeping the newest max_backups); the result as JSON."""

    def get_metrics(self, instance_id: InstanceId) -> str:
        """The instance's latest metrics as JSON text."""


def dbus_error(exc: BaseException) -> tuple[str, str]:
    """The D-Bus error name and one-line message for an exception a method raised."""
    if isinstance(exc, NotFound):
        name = ERROR_NOT_FOUND
    elif isinstance(exc, InvalidInput):
        name = ERROR_INVALID_INPUT
    else:
        name = ERROR_FAILED
    if isinstance(exc, WarlockError):
        text = str(exc)
    else:
        text = f"internal error: {type(exc).__name__}: {exc} (hint: see journalctl -u warlockd)"
    return name, " ".join(text.splitlines())


class _Subscription:
    def __init__(self, callbacks: list[Callable[..., None]], callback: Callable[..., None]):
        self._callbacks = callbacks
        self._callback = callback

    def __enter__(self) -> _Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._callback in self._callbacks:
            self._callbacks.remove(self._callback)


class _Signal:
    """As much of pydbus.generic.signal as pydbus's ObjectWrapper uses, without importing it."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., None]] = []

    def connect(self, callback: Callable[..., None]) -> _Subscription:
        self._callbacks.append(callback)
        return _Subscription(self._callbacks, callback)

    def __call__(self, *args: object) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class Manager1:
    """The published object (pydbus reads its XML from `dbus`). Pure Python: no GLib here."""

    dbus = INTROSPECTION
    Version = __version__

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.InstanceChanged = _Signal()

    def ListInstances(self) -> list[InstanceRow]:
        return list(self._backend.list_instances())

    def GetInstance(self, instance_id: str) -> str:
        return self._backend.get_instance(parse_id(instance_id))

    def Start(self, instance_id: str) -> None:
        self._backend.start(parse_id(instance_id))

    def Stop(self, instance_id: str) -> None:
        self._backend.stop(parse_id(instance_id))

    def Restart(self, instance_id: str) -> None:
        self._backend.restart(parse_id(instance_id))

    def Backup(self, instance_id: str, max_backups: int) -> str:
        """max_backups 0 keeps every backup, as manage.py does without --max-backups."""
        return self._backend.backup(parse_id(instance_id), max_backups or None)

    def GetMetrics(self, instance_id: str) -> str:
        return self._backend.get_metrics(parse_id(instance_id))
