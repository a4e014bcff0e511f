"""Sampling: CPU, memory, tasks, players and disk of every instance on an interval, into
the per-instance cache the CLI reads, the history and the Prometheus textfile."""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from typing import Any

from .. import answers, cache, metrics, procs
from ..model import Instance, Status
from ..report import panel_status, service
from ..store import Sample, StoreError
from ..systemd import UnitState
from .events import Events
from .state import Tracked, log


class Sampling(Events):
    def sample(self, *, disk: bool, only: Collection[str] | None = None) -> None:
        """Every instance, or `only` these (those whose unit changed, a second later: fresh
        figures for them without a round for all)."""
        now = time.time()
        rows: list[Sample] = []
        seen_pids: set[int] = set()
        everyone = only is None
        chosen = self.tracked.values() if only is None else (
            self.tracked[i] for i in only if i in self.tracked
        )  # fmt: skip
        for t in chosen:
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
        if everyone:  # a process no instance has now is gone
            self.sampler.forget(seen_pids)
            self.last_samples = {}
        self.last_samples.update((r.instance_id, r) for r in rows)
        if self.store is not None:
            try:
                self.store.add_samples(rows)
                self._store_ok()
            except StoreError as e:
                self._store_failed(e)
        self.write_prometheus(
            [r for i, r in self.last_samples.items() if i in self.tracked]  # gone: not shown
        )
        if self.web is not None:
            self.web.samples(rows)

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
            if t.live.main_pid and not data.get("game_pid"):  # the runner starts it after
                kids = procs.children(t.live.main_pid)
                data["game_pid"] = kids[0] if kids else 0
            if t.live.status == Status.RUNNING:
                if t.since[0] != t.live.main_pid:  # a new run: when did it start?
                    t.since = (t.live.main_pid, procs.unit_started(t.inst.unit))
                data["uptime"] = int(time.time() - t.since[1]) if t.since[1] else 0
                data["restart_needed"] = 0 < t.since[1] < t.inst.settings_changed
            else:
                data["uptime"] = 0
        data.update(
            {
                "enabled": self._enabled(t.inst),  # `systemctl enable` sends no signal
                "instance_id": t.inst.id,
                **panel_status(row.status),
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
        names = metrics.player_names(t.live.status_text)
        if names is not None:
            data["players"] = names
        t.last = data
        self._write(t, data)

    def _write(self, t: Tracked, data: dict[str, Any]) -> None:
        ttl = 3 * self.config.interval
        try:
            cache.write(self.run_dir, self._key(t.inst), data, ttl=ttl)
            if t.record:  # the panels' poll answered from here (answers.py)
                row = {k: v for k, v in data.items() if k != "live"}
                running = t.live.status == Status.RUNNING
                started = t.since[1] if running and t.since[0] == t.live.main_pid else 0.0
                answers.write(str(self.run_dir), t.inst.id, row, t.record, started, ttl)
        except (OSError, ValueError) as e:
            log(f"warning: cannot write the cache in {self.run_dir}: {e}")

    def _enabled(self, inst: Instance) -> bool:
        return os.path.lexists(self.host.paths.units / "multi-user.target.wants" / inst.unit)

    def write_prometheus(self, rows: list[Sample]) -> None:
        directory = self.config.prometheus_dir
        if directory is None or not directory.is_dir():
            return
        from . import prometheus

        restarts: dict[str, int] = {t.inst.id: t.live.restarts for t in self.tracked.values()}
        names: dict[str, str] = {t.inst.id: t.inst.name for t in self.tracked.values()}
        try:
            prometheus.write_textfile(directory, prometheus.render(rows, restarts, names))
        except OSError as e:
            log(f"warning: cannot write metrics for node_exporter to {directory}: {e.strerror}")

    def _key(self, inst: Instance) -> str:
        return cache.key("services", inst.app, self.ip, inst.id)

    def _persist_live(self, t: Tracked) -> None:
        """A unit's new state, on disk at once: its whole row again (pid, result, restarts
        change with it), with the last sample's figures while it still runs."""
        running = t.live.status == Status.RUNNING
        last = t.last
        counts = metrics.players(t.live.status_text) if running else None
        self.write_cache(t, Sample(
            instance_id=t.inst.id, ts=time.time(), status=str(t.live.status),
            cpu_percent=last.get("cpu_percent") if running else None,
            memory_bytes=last.get("memory_bytes") if running else None,
            tasks=last.get("tasks") if running else None,
            disk_bytes=t.disk,
            players=counts[0] if counts else None,
            max_players=counts[1] if counts else None,
        ))  # fmt: skip
