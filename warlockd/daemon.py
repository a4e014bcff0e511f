"""warlockd.service: watch every instance, sample, keep metrics and events, alert, serve D-Bus.

One thread runs the loop: systemd's signals and timers, over select(). Webhooks and the
D-Bus API have their own threads, so a slow endpoint or caller delays nothing here.
Everything it needs to resume is on disk: kill -9 at any moment loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cache, metrics, procs, watch
from .apps import App, find_app
from .config import Config, load
from .errors import WarlockError
from .host import Host
from .model import Instance, Status
from .report import host_ip, service
from .store import Event, Sample, Store, StoreError
from .systemd import UnitState

CONFIG = Path("/etc/warlock/warlockd.toml")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")  # journald adds time and unit
    sys.stderr.flush()


def notify(*lines: str) -> None:
    from .runner import notify as send

    send(*lines)


@dataclass
class Tracked:
    inst: Instance
    app: App | None
    live: watch.Live
    retries: int = 0
    retry_at: float | None = None
    failed_at: float | None = None  # when systemd last said "failed" (may be on its way back)
    running_since: float | None = None
    since: tuple[int, float] = (0, 0.0)  # (main pid, when its run started): read once per run
    base: tuple[watch.Live | None, dict[str, Any]] = (None, {})  # services dict, per unit state
    disk: int | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Daemon:
    def __init__(self, host: Host, config_path: Path = CONFIG, run_dir: Path | None = None) -> None:
        self.host = host
        self.config_path = config_path
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        self.run_dir = run_dir or Path(runtime or "/run/warlock")
        self.config = Config()
        self.tracked: dict[str, Tracked] = {}
        self.stopping = False
        self.reload_requested = False
        self.sampler = metrics.Sampler()
        self.ip = host_ip()
        self.store: Store | None = None
        self.store_errors: set[str] = set()  # reported since the last write that worked
        self.seen_event = 0  # the newest event id sent out or skipped
        self.own_events: set[int] = set()  # ids we added and sent out already
        self.dispatcher: Any = None
        self.api: Any = None
        self.api_lost = False
        self.apps: dict[str, App] = {}  # by guid; reloaded with the configuration

    # -- events ---------------------------------------------------------------------------
    def event(self, kind: str, inst: Instance | None, message: str, **data: Any) -> None:
        ev = Event(
            ts=time.time(),
            kind=kind,
            instance_id=inst.id if inst else None,
            message=message,
            data=data,
        )
        if self.store is not None:
            try:
                self.own_events.add(self.store.add_event(ev))
            except StoreError as e:
                self._store_failed(e)
        self._announce(ev, inst)

    def _announce(self, ev: Event, inst: Instance | None) -> None:
        """An event to the journal, the webhooks and InstanceChanged."""
        log(f"{ev.instance_id or 'warlockd'}: {ev.kind}: {ev.message}")
        if self.dispatcher is not None:
            self.dispatcher.submit(ev, inst.name if inst else None)
        if self.api is not None and inst is not None:
            t = self.tracked.get(inst.id)
            self.api.emit_changed(inst.id, str(t.live.status) if t else ev.kind)

    def _store_failed(self, e: WarlockError) -> None:
        if str(e) not in self.store_errors:  # once per distinct problem, not every 10 s
            self.store_errors.add(str(e))
            log(f"warning: {e}")

    def _store_ok(self) -> None:
        if self.store_errors:
            self.store_errors.clear()
            log("the database is written again")

    # -- state ----------------------------------------------------------------------------
    def load_registry(self, *, first: bool = False) -> None:
        """Pick up created and deleted instances; a broken record is skipped with an event."""
        instances, problems = self.host.registry.scan()
        for problem in problems:
            if first:
                self.event("daemon", None, f"skipped {problem}")
        current = {i.id: i for i in instances}
        for gone in set(self.tracked) - set(current):
            del self.tracked[gone]
        new = []
        for inst in instances:
            if inst.id in self.tracked:
                self.tracked[inst.id].inst = inst
            else:
                new.append(inst)
        states = self._states(new)
        for inst in new:
            self.tracked[inst.id] = self._track(inst, states[inst.id], recover=first)

    def _states(self, insts: list[Instance]) -> dict[str, UnitState]:
        """The units of many instances as watching sees them, in one round trip for all plus
        a few reads for each unit systemd has loaded; units it has not loaded stay so."""
        if not insts:
            return {}
        loaded = self.host.systemd.states("game@*.service")
        return {
            i.id: self.host.systemd.watched(loaded[i.unit])
            if i.unit in loaded
            else UnitState(i.unit)
            for i in insts
        }

    def report_interrupted(self) -> None:
        """A create cut short by a crash or power loss leaves a user, a directory and a
        drop-in without a record; the next create undoes them (this daemon cannot: /etc is
        read-only to it), so say so at boot."""
        for iid in self.host.paths.creating_notes():
            try:
                if self.host.registry.exists(iid):
                    continue  # killed after its record was saved: nothing half-made
            except WarlockError:
                pass  # not an instance id: still worth a look
            self.event(
                "daemon", None, f"a create of {iid} was interrupted; the next create undoes it"
            )

    def _track(self, inst: Instance, st: UnitState, *, recover: bool) -> Tracked:
        app = self.apps.get(inst.app)
        if app is None:
            try:
                app = self.apps[inst.app] = find_app(self.host.paths, inst.app)
            except WarlockError:
                app = None
        live = watch.Live(st.active, st.sub, st.result, st.restarts, st.main_pid, st.status_text)
        t = Tracked(inst, app, live)
        self.tracked[inst.id] = t
        # At start-up: what happened while we were not watching, from our last view on
        # disk. Later: a new instance was created stopped; whatever it did since counts.
        before = self._last_known(inst) if recover else watch.Live()
        for kind, message in watch.classify(before, live, while_down=recover):
            self.event(kind, inst, message)
        self._persist_live(t)
        return t

    def _last_known(self, inst: Instance) -> watch.Live | None:
        data = cache.read(self.run_dir, self._key(inst), now=0.0)  # expired is fine here
        if not data or "live" not in data:
            return None
        return watch.Live(**data["live"])

    def _key(self, inst: Instance) -> str:
        return cache.key("services", inst.app, self.ip, inst.id)

    def apply(self, unit: str, props: dict[str, Any]) -> None:
        iid = unit.removeprefix("game@").removesuffix(".service")
        if iid not in self.tracked:
            self.load_registry()  # created since our last look
        t = self.tracked.get(iid)
        if t is None:
            return
        before, t.live = t.live, t.live.updated(props)
        self._persist_live(t)  # our last view, on disk at once: a kill -9 now loses nothing
        for kind, message in watch.classify(before, t.live):
            self.event(kind, t.inst, message, result=t.live.result, restarts=t.live.restarts)
        # "failed" also shows for an instant before an automatic restart: only one that
        # lasts is the end of a crash loop (retry_crashed decides)
        if t.live.active == "failed":
            t.failed_at = t.failed_at or time.monotonic()
        else:
            t.failed_at = None
        if t.live.status == Status.RUNNING and before.status != Status.RUNNING:
            t.running_since = time.monotonic()

    def _persist_live(self, t: Tracked) -> None:
        if not t.last:  # nothing sampled yet: a whole entry, with no figures yet
            self.write_cache(
                t, Sample(instance_id=t.inst.id, ts=time.time(), status=str(t.live.status))
            )
            return
        data = t.last = dict(t.last) | {"status": str(t.live.status), "live": t.live.__dict__}
        try:
            cache.write(self.run_dir, self._key(t.inst), data, ttl=3 * self.config.interval)
        except OSError as e:
            log(f"warning: cannot write the cache in {self.run_dir}: {e.strerror}")

    def retry_crashed(self) -> None:
        """systemd gave up on a crash loop: try again later, waiting longer each time."""
        now = time.monotonic()
        for t in self.tracked.values():
            healthy = t.live.status == Status.RUNNING and now - (t.running_since or now) > 600
            if healthy and t.retries:
                t.retries = 0  # ten minutes up: a later crash loop starts the back-off over
            if t.failed_at is None:
                t.retry_at = None  # running again, or stopped by someone: no retry
                continue
            if t.retry_at is None and now - t.failed_at >= 1.0:
                base, cap = self.config.crash_retry_base, self.config.crash_retry_max
                delay = watch.retry_delay(t.retries, base, cap)
                t.retry_at = now + delay
                self.event(
                    "crashed", t.inst, f"crash loop: retrying in {delay:.0f} s", retry=t.retries + 1
                )
            elif t.retry_at is not None and now >= t.retry_at:
                t.retry_at, t.failed_at, t.retries = None, None, t.retries + 1
                try:
                    self.host.systemd.reset_failed(t.inst.unit)
                    # queued, not awaited: the loop sees how it goes through the signals
                    self.host.systemd.enqueue_start(t.inst.unit)
                    self.event("restarted", t.inst, f"retry {t.retries} after a crash loop")
                except WarlockError as e:
                    self.event("crashed", t.inst, f"retry {t.retries} failed: {e}")

    # -- sampling -------------------------------------------------------------------------
    def sample(self, *, disk: bool) -> None:
        now = time.time()
        rows: list[Sample] = []
        seen_pids: set[int] = set()
        for t in self.tracked.values():
            running = t.live.status == Status.RUNNING
            usage = self.sampler.usage(t.inst.unit) if running else None
            if usage is not None:
                seen_pids.update(usage.pids)
            if disk:
                t.disk = metrics.disk_usage(t.inst.path)
            counts = metrics.players(t.live.status_text)
            rows.append(
                Sample(
                    instance_id=t.inst.id,
                    ts=now,
                    status=str(t.live.status),
                    cpu_percent=usage.cpu_percent if usage else None,
                    memory_bytes=usage.memory_bytes if usage else None,
                    tasks=usage.tasks if usage else None,
                    disk_bytes=t.disk,
                    players=counts[0] if counts else None,
                    max_players=counts[1] if counts else None,
                )
            )
            self.write_cache(t, rows[-1])
        self.sampler.forget(seen_pids)
        if self.store is not None:
            try:
                self.store.add_samples(rows)
                self._store_ok()
            except StoreError as e:
                self._store_failed(e)
        self.write_prometheus(rows)

    def write_cache(self, t: Tracked, row: Sample) -> None:
        data: dict[str, Any] = {}
        if t.app is not None:
            if t.base[0] != t.live:  # the services part changes with the unit, not each sample
                st = UnitState(
                    t.inst.unit,
                    "loaded",
                    t.live.active,
                    t.live.sub,
                    t.live.result,
                    t.live.main_pid,
                    0.0,
                    t.live.restarts,
                    status_text=t.live.status_text,
                )
                t.base = (t.live, service(t.inst, t.app, st, self.ip, probe=False))
            data = dict(t.base[1])
            if t.live.status == Status.RUNNING:
                if t.since[0] != t.live.main_pid:  # a new run: when did it start?
                    t.since = (t.live.main_pid, procs.unit_started(t.inst.unit))
                data["uptime"] = int(time.time() - t.since[1]) if t.since[1] else 0
            else:
                data["uptime"] = 0
        data.update(
            {
                "instance_id": t.inst.id,
                "status": row.status,
                "player_count": row.players,
                "cpu_usage": "N/A" if row.cpu_percent is None else f"{row.cpu_percent:g}%",
                "memory_usage": metrics.human_bytes(row.memory_bytes),
                "cpu_percent": row.cpu_percent,
                "memory_bytes": row.memory_bytes,
                "tasks": row.tasks,
                "disk_bytes": row.disk_bytes,
                "sampled_at": row.ts,
                "live": t.live.__dict__,
            }
        )
        if row.max_players is not None:
            data["max_players"] = row.max_players
        t.last = data
        try:
            cache.write(self.run_dir, self._key(t.inst), data, ttl=3 * self.config.interval)
        except OSError as e:
            log(f"warning: cannot write the cache in {self.run_dir}: {e.strerror}")

    def write_prometheus(self, rows: list[Sample]) -> None:
        directory = self.config.prometheus_dir
        if directory is None or not directory.is_dir():
            return
        from . import prometheus

        restarts = {t.inst.id: t.live.restarts for t in self.tracked.values()}
        names = {t.inst.id: t.inst.name for t in self.tracked.values()}
        try:
            prometheus.write_textfile(directory, prometheus.render(rows, restarts, names))
        except OSError as e:
            log(f"warning: cannot write metrics for node_exporter to {directory}: {e.strerror}")

    # -- life -----------------------------------------------------------------------------
    def reload_config(self) -> bool:
        self.apps.clear()  # manifests may have changed too
        try:
            self.config = load(self.config_path)
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

    def open_store(self) -> None:
        c = self.config
        try:
            self.store = Store(
                self.host.paths.database,
                raw_hours=c.raw_hours,
                minute_days=c.minute_days,
                hour_days=c.hour_days,
                max_bytes=c.max_db_mb << 20,
            )
        except StoreError as e:
            self.store = None  # watching goes on without history
            self._store_failed(e)
            return
        try:
            self.seen_event = self.store.last_event_id()  # older ones were told already
        except StoreError as e:
            self._store_failed(e)

    def forward_events(self) -> None:
        """Events commands recorded (an update, a port conflict) go out as ours do: to the
        journal, the webhooks and the D-Bus signal."""
        if self.store is None:
            return
        try:
            found = self.store.events_after(self.seen_event)
        except StoreError as e:
            self._store_failed(e)
            return
        for ev in found:
            self.seen_event = max(self.seen_event, ev.id or 0)
            if ev.id in self.own_events:
                self.own_events.discard(ev.id)
                continue
            t = self.tracked.get(ev.instance_id or "")
            self._announce(ev, t.inst if t else None)

    def start_api(self) -> None:
        try:
            from .dbus_api import ApiServer

            self.api = ApiServer(DaemonBackend(self), on_disconnect=self._api_lost)
            self.api.start()
        except WarlockError as e:
            self.api = None
            log(f"warning: no D-Bus API: {e}")

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
        self.report_interrupted()
        self.load_registry(first=True)
        self.start_api()
        status = self.status_line()
        notify("READY=1", f"STATUS={status}")
        log(f"watching {status}")
        wd_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        next_ping = next_sample = next_disk = next_maintain = next_scan = time.monotonic()
        next_forward = next_ping
        while not self.stopping:
            now = time.monotonic()
            if self.reload_requested:
                self.reload_requested = False
                if self.reload_config():
                    log("configuration reloaded")
            try:
                for change in self.host.systemd.changes():
                    self.apply(change.unit, change.props)
                if now >= next_scan:  # new instances show up sooner: on their first signal
                    self.load_registry()
                    next_scan = now + 6 * self.config.interval
                if now >= next_sample:
                    self.sample(disk=now >= next_disk)
                    if now >= next_disk:
                        next_disk = now + self.config.disk_interval
                    next_sample = now + self.config.interval
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
                0.0, min(next_sample, next_ping if wd_usec else next_sample) - time.monotonic()
            )
            try:
                select.select([bus_fd, wake_r], [], [], min(timeout, 5.0))
            except InterruptedError:
                pass
            except OSError:  # sd-bus closed its socket: the system bus went away
                log("warning: lost the system bus; reconnecting")
                bus_fd = self.reconnect()
            with contextlib.suppress(OSError):
                os.read(wake_r, 512)
        notify("STOPPING=1")
        log("stopping")
        if self.api is not None:
            self.api.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop(2.0)
        if self.store is not None:
            self.store.close()
        return 0

    def reconnect(self) -> int:
        for attempt in range(60):
            try:
                self.host._systemd = None
                fd = self.host.systemd.watch("game@")
                states = self._states([t.inst for t in self.tracked.values()])
                for t in list(self.tracked.values()):  # catch up with what changed meanwhile
                    st = states[t.inst.id]
                    self.apply(
                        t.inst.unit,
                        {
                            "ActiveState": st.active,
                            "SubState": st.sub,
                            "Result": st.result,
                            "NRestarts": st.restarts,
                            "MainPID": st.main_pid,
                            "StatusText": st.status_text,
                        },
                    )
                return fd
            except WarlockError:
                time.sleep(min(1.0 + attempt, 5.0))
        raise WarlockError("cannot reach systemd again")


class DaemonBackend:
    """What the D-Bus API answers, from the daemon's view; actions run on their own connection."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def _tracked(self, instance_id: str) -> Tracked:
        from .errors import NotFound

        t = self.daemon.tracked.get(instance_id)
        if t is None:
            raise NotFound(f"no instance {instance_id}")
        return t

    def list_instances(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (
                t.inst.id,
                t.inst.name,
                t.app.slug if t.app else t.inst.app,
                str(t.live.status),
                t.inst.unit,
            )
            for t in list(self.daemon.tracked.values())
        ]

    def get_instance(self, instance_id: str) -> str:
        t = self._tracked(instance_id)
        return json.dumps(t.inst.public() | {"status": str(t.live.status)})

    def get_metrics(self, instance_id: str) -> str:
        return json.dumps(self._tracked(instance_id).last)

    def _act(self, verb: str, instance_id: str) -> None:
        from . import actions

        inst = self._tracked(instance_id).inst
        host = Host(self.daemon.host.paths)  # its own systemd connection: this is another thread
        getattr(actions, verb)(host, inst)

    def start(self, instance_id: str) -> None:
        self._act("start", instance_id)

    def stop(self, instance_id: str) -> None:
        self._act("stop", instance_id)

    def restart(self, instance_id: str) -> None:
        self._act("restart", instance_id)

    def backup(self, instance_id: str, max_backups: int | None) -> str:
        from .backup import backup

        inst = self._tracked(instance_id).inst
        result = backup(Host(self.daemon.host.paths), inst, max_backups)
        return json.dumps(result.to_dict())


def main() -> int:
    socket.setdefaulttimeout(10)  # no network call may hang the daemon for ever
    try:
        return Daemon(Host.from_env(), Path(os.environ.get("WARLOCK_CONFIG", str(CONFIG)))).run()
    except WarlockError as e:
        log(f"error: {e}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
