"""The daemon's events: recorded in the history, sent to the journal, the webhooks and
D-Bus InstanceChanged; events commands recorded are picked up and sent out the same way."""

from __future__ import annotations

import time
from typing import Any

from ..errors import WarlockError
from ..model import Instance
from ..store import Event, Store, StoreError
from .state import State, log


class Events(State):
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
        if self.web is not None:
            self.web.event(ev)
        if ev.kind == "api":  # a request's record, for the log: no webhook, no D-Bus signal
            return
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
