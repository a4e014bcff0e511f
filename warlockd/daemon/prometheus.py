"""Per-instance gauges in Prometheus' text format, for node_exporter's textfile collector.

`render()` is pure; `write_textfile()` puts the result where node_exporter reads
`*.prom` files (Debian: /var/lib/prometheus/node-exporter), atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import fsutil
from ..errors import InvalidInput
from ..store import Sample


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    field: str  # the Sample attribute it shows


GAUGES = (
    Metric("warlock_instance_up", "1 if the instance is running, else 0.", "status"),
    Metric("warlock_instance_players", "Players online.", "players"),
    Metric("warlock_instance_max_players", "Player slots.", "max_players"),
    Metric("warlock_instance_cpu_percent", "CPU use in percent of one core.", "cpu_percent"),
    Metric("warlock_instance_memory_bytes", "Memory of the instance's unit.", "memory_bytes"),
    Metric("warlock_instance_tasks", "Tasks (threads) of the instance's unit.", "tasks"),
    Metric("warlock_instance_disk_bytes", "Disk used by the instance directory.", "disk_bytes"),
)
RESTARTS = "warlock_instance_restarts_total"


def _value(s: Sample, field: str) -> float | None:
    if field == "status":
        return 1.0 if s.status == "running" else 0.0
    value: float | None = getattr(s, field)
    return value


def escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline (text format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(instance_id: str, names: Mapping[str, str], apps: Mapping[str, str]) -> str:
    pairs = (("instance_id", instance_id), ("name", names.get(instance_id, "")),
             ("app", apps.get(instance_id, "")))  # fmt: skip
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


def render(
    rows: list[Sample], restarts: Mapping[str, int], names: Mapping[str, str],
    apps: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """One family per metric, one line per instance (its latest sample).

    Unknown values (no players query, no accounting) are left out rather than written
    as NaN, so dashboards show a gap instead of a fake number. No timestamps: the
    textfile collector refuses them.
    """
    apps = apps or {}
    latest: dict[str, Sample] = {}
    for s in rows:
        if s.instance_id not in latest or s.ts >= latest[s.instance_id].ts:
            latest[s.instance_id] = s
    ids = sorted(latest)
    lines: list[str] = []
    for m in GAUGES:
        lines += [f"# HELP {m.name} {_escape_help(m.help)}", f"# TYPE {m.name} gauge"]
        for iid in ids:
            value = _value(latest[iid], m.field)
            if value is not None:
                lines.append(f"{m.name}{_labels(iid, names, apps)} {format_value(value)}")
    lines += [
        f"# HELP {RESTARTS} Restarts of the instance seen by warlockd.",
        f"# TYPE {RESTARTS} counter",
    ]
    for iid in sorted(set(ids) | set(restarts)):
        count = restarts.get(iid, 0)
        lines.append(f"{RESTARTS}{_labels(iid, names, apps)} {format_value(count)}")
    return "\n".join(lines) + "\n"


def write_textfile(directory: Path, text: str, name: str = "warlockd.prom") -> Path:
    """Atomically replace `directory/name`.

    node_exporter reads every `*.prom` in the directory at each scrape; atomic_write's
    temp file is `.<name>.<pid>.tmp`, which it ignores, so a scrape never sees half a file.
    """
    if "/" in name or not name.endswith(".prom") or name.startswith("."):
        raise InvalidInput(f"invalid textfile name {name!r}", hint="a plain name ending in .prom")
    path = directory / name
    fsutil.atomic_write(path, text, 0o644)  # node_exporter runs as its own user
    return path
