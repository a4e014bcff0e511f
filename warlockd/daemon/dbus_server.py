"""Publishing the D-Bus front door (dbus_api.Manager1) with pydbus, on a GLib loop thread
of its own, with method calls answered from worker threads (see dbus_api's docstring)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..errors import WarlockError
from ..model import InstanceId
from .dbus_api import (
    BUS_NAME,
    ERROR_FAILED,
    INTERFACE,
    OBJECT_PATH,
    POLICY_DIR,
    Backend,
    Manager1,
    dbus_error,
)

_ACTIONS = frozenset({"Start", "Stop", "Restart", "Backup"})
_STARTUP_TIMEOUT = 30.0
log = logging.getLogger(__name__)


class ApiServer:
    """Publishes Manager1 and runs a GLib loop on its own context in a daemon thread.

    Every GLib object is created and used on the loop thread; other threads hand work to it
    with `_in_loop`. `on_disconnect` is called on the loop thread when the bus goes away
    (dbus-daemon restarted): keep it short, e.g. tell the daemon to call `reconnect()`.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        bus_address: str | None = None,
        on_disconnect: Callable[[], None] | None = None,
        action_workers: int = 4,
        query_workers: int = 2,
    ) -> None:
        self.object = Manager1(backend)
        self._address = bus_address
        self._on_disconnect = on_disconnect
        self._workers = (action_workers, query_workers)
        self._context: Any = None
        self._loop: Any = None
        self._thread: threading.Thread | None = None
        self._bus: Any = None
        self._exits: list[Callable[[], None]] = []
        self._closing = False
        self._actions: ThreadPoolExecutor | None = None
        self._queries: ThreadPoolExecutor | None = None

    @property
    def connected(self) -> bool:
        return self._bus is not None

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        """Return once the name is owned; raise WarlockError (with a hint) if it cannot be."""
        from gi.repository import GLib

        if self._thread is not None:
            raise WarlockError("the D-Bus API is already started")
        self._actions = ThreadPoolExecutor(self._workers[0], "warlock-dbus-action")
        self._queries = ThreadPoolExecutor(self._workers[1], "warlock-dbus-query")
        self._context = GLib.MainContext()
        self._loop = GLib.MainLoop(self._context)
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="warlock-dbus")
        self._thread.daemon = True
        self._thread.start()
        try:
            started.result(_STARTUP_TIMEOUT)
        except BaseException:
            self._thread.join(_STARTUP_TIMEOUT)
            self._reset()
            raise

    def stop(self) -> None:
        """Release the name, close the connection, quit the loop and join its thread."""
        thread = self._thread
        if thread is None:
            return
        if threading.current_thread() is thread:  # from on_disconnect: cannot join itself
            self._quit()
        elif thread.is_alive():
            self._in_loop(self._quit)
            thread.join(_STARTUP_TIMEOUT)
        self._reset()

    def reconnect(self) -> None:
        """A new connection with the object and name published again (after a bus restart)."""
        self._call_in_loop(self._reconnect)

    def emit_changed(self, instance_id: InstanceId, status: str) -> None:
        """Emit InstanceChanged(id, status); callable from any thread."""
        if self._thread is not None:
            self._in_loop(lambda: self._emit(instance_id, status))

    # The loop thread.

    def _run(self, started: Future[None]) -> None:
        self._context.push_thread_default()
        try:
            try:
                self._connect()
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            self._loop.run()
        finally:
            self._teardown()
            self._context.pop_thread_default()

    def _connect(self) -> None:
        import pydbus
        from gi.repository import Gio, GLib

        what = f"the bus at {self._address}" if self._address else "the system bus"
        try:
            address = self._address or Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM)
            bus = pydbus.connect(address)
        except GLib.Error as exc:
            raise WarlockError(
                f"cannot connect to {what}: {exc.message}", hint="is dbus running?"
            ) from None
        con = bus.con
        con.set_exit_on_close(False)
        handler = con.connect("closed", self._on_closed)
        exits: list[Callable[[], None]] = [lambda: con.disconnect(handler)]
        try:
            interfaces = Gio.DBusNodeInfo.new_for_xml(Manager1.dbus).interfaces
            wrapper = self._wrapper(interfaces)
            registration = pydbus.registration.ObjectRegistration(
                bus, OBJECT_PATH, interfaces, wrapper, True
            )
            exits.append(registration.unregister)
            owner = self._own_name(bus, what)
            exits.append(owner.unown)
        except BaseException:
            self._close(con, exits)
            raise
        self._bus, self._exits = bus, exits
        log.info("D-Bus API %s published on %s", BUS_NAME, what)

    def _own_name(self, bus: Any, what: str) -> Any:
        from gi.repository import Gio, GLib

        try:
            # No allow_replacement: another process must not take the name over.
            return bus.request_name(BUS_NAME, allow_replacement=False)
        except GLib.Error as exc:  # before RuntimeError: GLib.Error is one
            remote = Gio.DBusError.get_remote_error(exc)
            # strip_remote_error() cannot edit PyGObject's copy of the GError: cut it here.
            message = exc.message.removeprefix(f"GDBus.Error:{remote}: ")
            if remote == "org.freedesktop.DBus.Error.AccessDenied":
                raise WarlockError(
                    f"the bus policy does not allow this user to own {BUS_NAME}: {message}",
                    hint=f"run as root; is the policy file installed in {POLICY_DIR}?",
                ) from None
            raise WarlockError(f"cannot own {BUS_NAME} on {what}: {message}") from None
        except RuntimeError as exc:  # pydbus: the name has an owner (or we are it already)
            raise WarlockError(
                f"cannot own {BUS_NAME} on {what}: {exc}",
                hint=f"is another warlockd running? see busctl status {BUS_NAME}",
            ) from None

    def _wrapper(self, interfaces: list[Any]) -> Any:
        import pydbus  # pydbus.registration is imported by pydbus itself (pydbus.bus)

        server = self

        class AsyncWrapper(pydbus.registration.ObjectWrapper):  # type: ignore[misc]
            """pydbus's wrapper, with Manager1's methods answered later (module docstring)."""

            def call_method(
                self,
                connection: Any,
                sender: str,
                object_path: str,
                interface_name: str,
                method_name: str,
                parameters: Any,
                invocation: Any,
            ) -> None:
                if interface_name != INTERFACE:  # Properties: Get/GetAll of Version
                    super().call_method(
                        connection,
                        sender,
                        object_path,
                        interface_name,
                        method_name,
                        parameters,
                        invocation,
                    )
                    return
                outargs = self.outargs[f"{INTERFACE}.{method_name}"]
                server._dispatch(method_name, parameters.unpack(), outargs, invocation)

        return AsyncWrapper(self.object, interfaces)

    def _dispatch(self, method: str, args: tuple[Any, ...], outargs: list[str], inv: Any) -> None:
        pool = self._actions if method in _ACTIONS else self._queries
        future: Future[Any]
        try:
            if pool is None:
                raise RuntimeError("no pool")
            future = pool.submit(getattr(self.object, method), *args)
        except RuntimeError:  # stop() is under way
            future = Future()
            future.set_exception(WarlockError("warlockd is stopping"))
        future.add_done_callback(lambda done: self._in_loop(lambda: _reply(inv, outargs, done)))

    def _emit(self, instance_id: InstanceId, status: str) -> None:
        from gi.repository import GLib

        if self._bus is None:
            log.debug("InstanceChanged(%s, %s) not sent: not connected", instance_id, status)
            return
        try:
            self.object.InstanceChanged(instance_id, status)
        except GLib.Error as exc:
            log.warning("InstanceChanged(%s, %s) not sent: %s", instance_id, status, exc.message)

    def _on_closed(self, con: Any, remote_peer_vanished: bool, error: Any) -> None:
        if self._closing or self._bus is None or self._bus.con is not con:
            return
        reason = error.message if error is not None else "closed"
        log.warning("lost the D-Bus connection (%s): %s is not served", reason, BUS_NAME)
        # Unregister and unsubscribe locally; the calls to the bus (ReleaseName) fail and are
        # skipped.
        self._teardown()
        if self._on_disconnect is not None:
            try:
                self._on_disconnect()
            except Exception:
                log.exception("on_disconnect callback failed")

    def _reconnect(self) -> None:
        self._teardown()
        self._connect()

    def _quit(self) -> None:
        self._teardown()
        self._loop.quit()

    def _teardown(self) -> None:
        bus, exits = self._bus, self._exits
        self._bus, self._exits = None, []
        if bus is not None:
            self._close(bus.con, exits)

    def _close(self, con: Any, exits: list[Callable[[], None]]) -> None:
        from gi.repository import GLib

        self._closing = True
        try:
            for exit_ in reversed(exits):
                try:
                    exit_()
                except GLib.Error as exc:  # e.g. ReleaseName on a bus that just went away
                    log.debug("D-Bus teardown: %s", exc.message)
            if not con.is_closed():
                con.close_sync(None)
        except GLib.Error as exc:
            log.debug("D-Bus close: %s", exc.message)
        finally:
            self._closing = False

    # Any thread.

    def _in_loop(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the loop thread (soon; dropped if the loop has stopped)."""
        from gi.repository import GLib

        def once(*_: object) -> bool:
            fn()
            return GLib.SOURCE_REMOVE  # type: ignore[no-any-return]

        source = GLib.Idle()
        source.set_callback(once)
        source.attach(self._context)

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            raise WarlockError("the D-Bus API is not started")
        if threading.current_thread() is thread:
            fn()
            return
        done: Future[None] = Future()

        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        self._in_loop(run)
        done.result(_STARTUP_TIMEOUT)

    def _reset(self) -> None:
        for pool in (self._actions, self._queries):
            if pool is not None:
                # Running backend calls finish on their own; their replies are dropped.
                pool.shutdown(wait=False, cancel_futures=True)
        self._actions = self._queries = None
        self._thread = None


def _reply(invocation: Any, outargs: list[str], done: Future[Any]) -> None:
    """Answer a call on the loop thread with its result or its D-Bus error."""
    from gi.repository import GLib

    exc = done.exception()
    if exc is None:
        try:
            result = done.result()
            value = GLib.Variant(f"({''.join(outargs)})", (result,)) if outargs else None
        except Exception as bad:  # a backend value that does not fit the signature
            exc = bad
        else:
            invocation.return_value(value)
            return
    name, message = dbus_error(exc)
    method = invocation.get_method_name()
    if name == ERROR_FAILED and not isinstance(exc, WarlockError):
        log.error("%s failed", method, exc_info=exc)
    else:
        log.info("%s: %s", method, message)
    invocation.return_dbus_error(name, message)
