"""Watching: every instance's unit as systemd reports it (its D-Bus signals), what each
change means (started, crashed, frozen...), and the retries of a crash loop that systemd
gave up on, later and later each time."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from .. import cache, links
from ..apps import find_app
from ..errors import WarlockError
from ..model import Instance, Status, parse_id
from ..systemd import UnitState
from . import watch
from .sampling import Sampling
from .state import Tracked


class Tracking(Sampling):
    def load_registry(self, *, first: bool = False) -> None:
        """Pick up created and deleted instances; a broken record is skipped with an event."""
        registry = self.host.registry
        instances, problems = registry.scan()
        for problem in problems:
            if first:
                self.event("daemon", None, f"skipped {problem}")
        current = {i.id: i for i in instances}
        for gone in set(self.tracked) - set(current):
            del self.tracked[gone]
            if self.web is not None:
                self.web.removed(gone)
        new = []
        for inst in instances:
            if inst.id in self.tracked:
                t = self.tracked[inst.id]
                if t.inst != inst:  # renamed, a setting changed: the services row anew
                    t.inst, t.base = inst, (None, {})
                    if self.web is not None:
                        self.web.state(t)  # the dashboard shows the new name now
            else:
                new.append(inst)
        states = self._states(new)
        for inst in new:
            self.tracked[inst.id] = self._track(inst, states[inst.id], recover=first)
        for inst in instances:  # what the ready answers name (answers.py)
            self.tracked[inst.id].record = registry.signatures.get(
                registry.record_path(inst).name, []
            )

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
                if self.host.registry.exists(parse_id(iid)):
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
        if self.web is not None:
            self.web.state(t)
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

    def apply(self, unit: str, props: dict[str, Any]) -> str | None:
        """A unit's changed properties; the id of its instance (None: not one of ours)."""
        iid = unit.removeprefix("game@").removesuffix(".service")
        if iid not in self.tracked:
            self.load_registry()  # created since our last look
        t = self.tracked.get(iid)
        if t is None:
            return None
        before, t.live = t.live, t.live.updated(props)
        if ("ActiveState" in props or "SubState" in props) and "NRestarts" not in props:
            # systemd 252 signals no change of NRestarts (it grows as auto-restart turns
            # into start, a SubState move): read it when the state moves
            with contextlib.suppress(WarlockError):
                fresh = self.host.systemd.watched(UnitState(unit, "loaded", t.live.active))
                t.live = t.live.updated({"NRestarts": fresh.restarts})
        if self.web is not None and t.live != before:
            self.web.state(t)  # SSE clients learn it from systemd's signal, not a poll
        self._persist_live(t)  # our last view, on disk at once: a kill -9 now loses nothing
        for kind, message in watch.classify(before, t.live):
            data = (
                {"link": links.of(t.live.status_text)} if kind == "link"
                else {"result": t.live.result, "restarts": t.live.restarts}
            )  # fmt: skip
            self.event(kind, t.inst, message, **data)
        # "failed" also shows for an instant before an automatic restart: only one that
        # lasts is the end of a crash loop (retry_crashed decides)
        if t.live.active == "failed":
            t.failed_at = t.failed_at or time.monotonic()
        else:
            t.failed_at = None
        if t.live.status == Status.RUNNING and before.status != Status.RUNNING:
            t.running_since = time.monotonic()
        return iid

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
