"""What the D-Bus front door answers: the daemon's own view for queries (what it tracks,
its last sample), and for actions the same commands as manage.py, through the table,
each call on a Host of its own (a worker thread needs its own systemd connection)."""

from __future__ import annotations

import json

from ..actions import Args
from ..commands import call
from ..errors import NotFound
from ..model import InstanceId
from .dbus_api import InstanceRow
from .loop import Daemon
from .state import Tracked


class DaemonBackend:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def _tracked(self, instance_id: InstanceId) -> Tracked:
        t = self.daemon.tracked.get(instance_id)
        if t is None:
            raise NotFound(f"no instance {instance_id}")
        return t

    def list_instances(self) -> list[InstanceRow]:
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

    def get_instance(self, instance_id: InstanceId) -> str:
        t = self._tracked(instance_id)
        return json.dumps(t.inst.public() | {"status": str(t.live.status)})

    def get_metrics(self, instance_id: InstanceId) -> str:
        return json.dumps(self._tracked(instance_id).last)

    def _call(self, command: str, args: Args) -> object:
        assert args.instance is not None
        self._tracked(args.instance)  # what this daemon does not watch is not its to act on
        return call(self.daemon.host.for_thread(), command, args).data

    def start(self, instance_id: InstanceId) -> None:
        self._call("start", Args(instance=instance_id))

    def stop(self, instance_id: InstanceId) -> None:
        self._call("stop", Args(instance=instance_id))

    def restart(self, instance_id: InstanceId) -> None:
        self._call("restart", Args(instance=instance_id))

    def backup(self, instance_id: InstanceId, max_backups: int | None) -> str:
        return json.dumps(self._call("backup", Args(instance=instance_id, max_backups=max_backups)))
