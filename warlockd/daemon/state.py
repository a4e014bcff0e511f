"""What warlockd.service keeps in memory: its view of every instance, and the parts of
the daemon (tracking, sampling, events) that share it. Everything it needs to resume
is also on disk (the cache, the history), so kill -9 at any moment loses nothing."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from ..apps import App
from ..config import Config
from ..host import Host
from ..metrics import Sampler
from ..model import Instance
from ..store import Sample, Store
from . import watch


def log(message: str) -> None:
    sys.stderr.write(message + "\n")  # journald adds time and unit
    sys.stderr.flush()


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
    record: list[int] = field(default_factory=list)  # its record file as read (answers.py)


class State:
    """The daemon's state, shared by its parts (tracking.py, sampling.py, events.py)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.run_dir = host.paths.runtime
        self.config = Config()
        self.tracked: dict[str, Tracked] = {}  # by instance id
        self.last_samples: dict[str, Sample] = {}  # each instance's newest row, by id
        self.apps: dict[str, App] = {}  # by guid; reloaded with the configuration
        self.sampler = Sampler()
        self.ip = "127.0.0.1"
        self.store: Store | None = None
        self.store_errors: set[str] = set()  # reported since the last write that worked
        self.seen_event = 0  # the newest event id sent out or skipped
        self.own_events: set[int] = set()  # ids we added and sent out already
        self.dispatcher: Any = None  # webhooks.Dispatcher, once configured
        self.api: Any = None  # dbus_server.ApiServer, once started
        self.web: Any = None  # web.server.WebServer (the HTTP API): told what changes
