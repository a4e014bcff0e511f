"""warlockd.service: watch every instance, sample, keep metrics and events, alert, serve D-Bus.

One thread runs the loop: systemd's signals and timers, over select(). Webhooks and the
D-Bus API have their own threads, so a slow endpoint or caller delays nothing here.
Everything it needs to resume is on disk: kill -9 at any moment loses nothing.
The parts: tracking.py (what systemd says), sampling.py (resources, players),
events.py (history, webhooks, signals), dbus_api.py (the D-Bus front door), dirwatch.py
(the registry's directory: a change from a shell is read at once).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from typing import Any

from .. import answers
from ..config import load
from ..errors import WarlockError
from ..host import Host
from ..report import host_ip
from ..store import Event, StoreError
from . import watch
from .dirwatch import DirWatch, is_record
from .state import log
from .tracking import Tracking


def notify(*lines: str) -> None:
    from ..runner import notify as send

    send(*lines)


class Daemon(Tracking):
    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.stopping = False
        self.reload_requested = False
        self.ip = host_ip()
        self.api_lost = False
        # the HTTP API asks for the registry to be read again (after a create or delete)
        self.wake_fd = -1  # written to wake the loop from another thread
        self.rescan = False
        self.scans = 0

    def reload_config(self) -> bool:
        self.apps.clear()  # manifests may have changed too
        try:
            self.config = load(self.host.paths.config_file)
        except WarlockError as e:
            log(f"error: {e} (keeping the previous configuration)")
            return False
        if self.dispatcher is not None:
            self.dispatcher.stop(1.0)
        from .webhooks import Dispatcher

        def failed(hook: Any, ev: Event, why: str) -> None:
            log(f"warning: webhook {hook.url} failed for {ev.kind} of {ev.instance_id}: {why}")

        self.dispatcher = Dispatcher(list(self.config.webhooks), on_failure=failed)
        self.dispatcher.start()
        return True

    def start_api(self) -> None:
        try:
            from .backend import DaemonBackend
            from .dbus_server import ApiServer

            self.api = ApiServer(DaemonBackend(self), on_disconnect=self._api_lost)
            self.api.start()
        except WarlockError as e:
            self.api = None
            log(f"warning: no D-Bus API: {e}")

    def start_web(self) -> None:
        """The HTTP API (web/server.py) as configured: started, restarted when its settings
        changed, stopped when turned off. A failure is logged; watching goes on."""
        from ..web.server import reconcile

        self.web = reconcile(self, self.web)

    def watch_records(self) -> DirWatch | None:
        """The registry's directory, watched; None (periodic scans only) if inotify is refused."""
        self.host.paths.state.mkdir(parents=True, exist_ok=True, mode=0o755)
        try:
            return DirWatch(str(self.host.paths.state), is_record)
        except OSError as e:
            log(f"warning: {e}; instances changed from a shell show at the next scan")
            return None

    def rescan_soon(self) -> None:
        """From another thread: read the registry at the loop's next turn, which is now."""
        self.rescan = True
        with contextlib.suppress(OSError):
            os.write(self.wake_fd, b"r")

    def _api_lost(self) -> None:
        self.api_lost = True  # on the API's thread: the loop reconnects it

    def reconnect_api(self) -> None:
        try:
            self.api.reconnect()
        except WarlockError as e:  # the bus may still be coming back: next round
            log(f"warning: D-Bus API not back yet: {e}")
            return
        self.api_lost = False
        log("D-Bus API published again")

    def status_line(self) -> str:
        return watch.summary([t.live.status for t in self.tracked.values()])

    def run(self) -> int:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        self.wake_fd = wake_w

        def on_signal(signum: int, frame: object) -> None:
            if signum == signal.SIGHUP:
                self.reload_requested = True
            else:
                self.stopping = True

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
        self.reload_config()
        self.open_store()
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        bus_fd = self.host.systemd.watch("game@")
        records = self.watch_records()
        self.report_interrupted()
        self.load_registry(first=True)
        self.start_api()
        self.start_web()
        status = self.status_line()
        notify("READY=1", f"STATUS={status}")
        log(f"watching {status}")
        wd_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        next_ping = next_sample = next_disk = next_maintain = next_scan = time.monotonic()
        next_forward = next_ping
        fresh: set[str] = set()  # instances whose unit changed: sampled again a second later
        next_fresh = float("inf")
        while not self.stopping:
            now = time.monotonic()
            if self.reload_requested:
                self.reload_requested = False
                if self.reload_config():
                    log("configuration reloaded")
                    self.start_web()
            try:
                changed = {
                    i for c in self.host.systemd.changes() if (i := self.apply(c.unit, c.props))
                }
                if changed:  # a started game's own process and figures, a second later
                    fresh |= changed
                    next_fresh = min(next_fresh, now + 1.0)
                if now >= next_scan or self.rescan:  # new ones show up sooner: on a signal
                    self.rescan = False
                    self.load_registry()
                    self.scans += 1
                    next_scan = now + 6 * self.config.interval
                if now >= next_sample:
                    self.sample(disk=now >= next_disk)
                    if now >= next_disk:
                        next_disk = now + self.config.disk_interval
                    next_sample = now + self.config.interval
                if now >= next_fresh:
                    self.sample(disk=False, only=fresh)
                    fresh, next_fresh = set(), float("inf")
                self.retry_crashed()
                if now >= next_forward:
                    self.forward_events()
                    next_forward = now + 1.0
            except WarlockError as e:  # systemd went away (bus restart): reconnect and go on
                log(f"warning: {e}; reconnecting")
                bus_fd = self.reconnect()
            if self.api_lost and self.api is not None:
                self.reconnect_api()
            if now >= next_maintain and self.store is not None:
                try:
                    self.store.maintain(time.time())
                except StoreError as e:
                    self._store_failed(e)
                next_maintain = now + 3600
            line = self.status_line()
            if line != status:
                status = line
                notify(f"STATUS={status}")
            if wd_usec and now >= next_ping:
                notify("WATCHDOG=1")
                next_ping = now + wd_usec / 2e6
            timeout = max(
                0.0,
                min(next_sample, next_fresh, next_ping if wd_usec else next_sample)
                - time.monotonic(),
            )
            try:
                ready, _, _ = select.select(
                    [bus_fd, wake_r, *([records.fd] if records else [])], [], [], min(timeout, 5.0)
                )
                if records is not None and records.fd in ready and records.changed():
                    self.rescan = True  # a record written, renamed or removed from a shell
            except InterruptedError:
                pass
            except OSError:  # sd-bus closed its socket: the system bus went away
                log("warning: lost the system bus; reconnecting")
                bus_fd = self.reconnect()
            with contextlib.suppress(OSError):
                os.read(wake_r, 512)
        notify("STOPPING=1")
        if records is not None:
            records.close()
        log("stopping")
        answers.clear(str(self.run_dir))  # without us they would go stale: the live path
        if self.api is not None:
            self.api.stop()
        if self.web is not None:
            self.web.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop(2.0)
        if self.store is not None:
            self.store.close()
        return 0


def main() -> int:
    socket.setdefaulttimeout(10)  # no network call may hang the daemon for ever
    try:
        return Daemon(Host.from_env()).run()
    except WarlockError as e:
        log(f"error: {e}")
        return 1
