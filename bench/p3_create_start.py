"""P3: create + start of one instance, with 50 instance units loaded.

One in-container loop (bench/create_start_loop.py) runs, 50 times,
`manage.py --create --app example` then `manage.py --instance ID --start`, timing the
pair. Target: median <= 0.6 s. The floor beside it is `systemctl daemon-reload` with
those units loaded: the floor the target was derived from (create itself no longer
reloads; the figure says how fast this machine's systemd is).

The loop's instances stay: the loop starts with 50 loaded units and ends with 100.

    python3 -m bench.p3_create_start      # needs root
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

from bench.common import (
    CREATE_START,
    PYTHON,
    Result,
    Stats,
    cprofile_top,
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
READY_RE = re.compile(r"ready after ([0-9.]+) s")


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
    rows = [
        Result(f"P3 floor: systemctl daemon-reload, {have} instances", reload),
        Result(f"P3 create alone, {where}", Stats.from_json(report["create"])),
        Result(f"P3 start alone, {where}", Stats.from_json(report["start"])),
        Result(
            f"P3 create + start, {where}", total, target_ms=TARGET_MS,
            baseline_name="daemon-reload", baseline=reload,
        ),
    ]  # fmt: skip
    if rows[-1].verdict != "PASS":
        explain(container)
    return rows


def explain(container: SystemdContainer) -> None:
    """Profile one more create and its start (left registered and running)."""
    print("\nP3 missed its target; where one create and one start spend their time:")
    print(cprofile_top(container, ("--create", "--app", "example", "--instance-name", "p3-prof")))
    stopped = [str(r["id"]) for r in instances(container) if r["status"] != "running"]
    if stopped:
        print(cprofile_top(container, ("--instance", stopped[0], "--start")), flush=True)
    print(ready_delays(container), flush=True)


def ready_delays(container: SystemdContainer) -> str:
    """How long after spawning the game the runner saw it answer (its `ready after` lines)."""
    journal = container.run(["journalctl", "--no-pager", "-o", "cat"], check=False).stdout
    delays = Counter(m.group(1) for m in READY_RE.finditer(journal))
    if not delays:
        return "no `ready after` lines in the journal"
    shown = ", ".join(f"{d} s: {n}" for d, n in sorted(delays.items(), key=lambda i: float(i[0])))
    return f"runner's `ready after` (game spawned -> probe answered), count per value: {shown}"


if __name__ == "__main__":
    sys.exit(standalone("P3: create + start", run))
