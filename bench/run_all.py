"""Run every benchmark in ONE throw-away systemd container and print one table.

    cd /work/main && python3 -m bench.run_all      # needs root

Order inside the container: P1 (1 instance), P2 at N=50, P3 (starts with those 50 units
loaded, adds 50), P2 at N=200 (adds the rest). Exits 0 even when a target is missed:
the benchmarks report, they do not gate. A benchmark that cannot run (an error, not a
MISS) is reported after the table and makes the exit code 1; the others still run.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from bench import p1_get_services, p2_list, p3_create_start
from bench.common import Result, log, print_table, snapshot
from tests.harness.container import SystemdContainer, available

T = TypeVar("T")


def main() -> int:
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_before = os.getloadavg()
    errors: list[str] = []

    def attempt(what: str, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception as e:
            log(f"{what} failed: {type(e).__name__}")
            errors.append(f"{what}: {traceback.format_exc()}")
            return None

    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        log(f"booted in {container.boot_seconds or 0:.1f} s")
        snapshot(container)
        p1 = attempt("P1", lambda: p1_get_services.run(container)) or []
        small = attempt("P2 N=50", lambda: p2_list.measure(container, min(p2_list.SIZES)))
        p3 = attempt("P3", lambda: p3_create_start.run(container)) or []
        large = attempt("P2 N=200", lambda: p2_list.measure(container, max(p2_list.SIZES)))
        samples = [s for s in (small, large) if s is not None]
        p2: list[Result] = p2_list.results(samples) if samples else []
        attempt("P2 explain", lambda: p2_list.explain(container, p2))
        log("powering the container off")
    print_table([*p1, *p2, *p3], "warlockd benchmarks (medians measured inside the container)")
    load = ", ".join(f"{a:.1f}" for a in (*load_before[:1], *os.getloadavg()[:1]))
    print(
        f"\ntotal run time {time.monotonic() - started:.0f} s; 1-min load average "
        f"at start, end: {load} ({os.cpu_count()} CPUs)",
        flush=True,
    )
    for error in errors:
        print(f"\nERROR in {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
