"""P3: create + start of one instance, with 50 instance units loaded.

One in-container loop (bench/create_start_loop.py) runs, 50 times,
`manage.py --create --app example` then `manage.py --instance ID --start`, timing the
pair. Target: median <= 0.6 s. The floor beside it is `systemctl daemon-reload` with
those units loaded (every create reloads systemd once).

The loop's instances stay: the loop starts with 50 loaded units and ends with 100.

    python3 -m bench.p3_create_start      # needs root
"""

from __future__ import annotations

import json
import sys

from bench.common import (
    CREATE_START,
    PYTHON,
    Result,
    Stats,
    ensure_instances,
    instances,
    log,
    standalone,
    timeit,
)
from tests.harness.container import SystemdContainer

LOADED = 50
COUNT = 50
TARGET_MS = 600.0


def run(container: SystemdContainer) -> list[Result]:
    running = ensure_instances(container, LOADED)
    have = len(instances(container))
    log(f"P3: daemon-reload floor with {have} instances ({running} running)")
    reload = timeit(container, ["systemctl", "daemon-reload"], repeat=15, warmup=2)
    log(f"P3: {COUNT} x (create + start)")
    out = container.run([PYTHON, CREATE_START, "--count", str(COUNT)], timeout=60 + 5 * COUNT)
    report = json.loads(out.stdout)
    where = f"{have}->{have + COUNT} instances"
    total = Stats.from_json(report["total"])
    return [
        Result(f"P3 floor: systemctl daemon-reload, {have} instances", reload),
        Result(f"P3 create alone, {where}", Stats.from_json(report["create"])),
        Result(f"P3 start alone, {where}", Stats.from_json(report["start"])),
        Result(
            f"P3 create + start, {where}", total, target_ms=TARGET_MS,
            baseline_name="daemon-reload", baseline=reload,
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(standalone("P3: create + start", run))
