"""Run every benchmark in ONE throw-away systemd container and print one table.

    cd /work/main && python3 -m bench.run_all      # needs root

Order inside the container: P1 (1 instance), P2 at N=50, P3 (starts with those 50 units
loaded, adds 50), P2 at N=200 (adds the rest). Exits 0 even when a target is missed:
the benchmarks report, they do not gate.
"""

from __future__ import annotations

import sys
import time

from bench import p1_get_services, p2_list, p3_create_start
from bench.common import log, print_table
from tests.harness.container import SystemdContainer, available


def main() -> int:
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        log(f"booted in {container.boot_seconds or 0:.1f} s")
        p1 = p1_get_services.run(container)
        small = p2_list.measure(container, min(p2_list.SIZES))
        p3 = p3_create_start.run(container)
        large = p2_list.measure(container, max(p2_list.SIZES))
        p2 = p2_list.results([small, large])
        log("powering the container off")
    print_table([*p1, *p2, *p3], "warlockd benchmarks (medians measured inside the container)")
    print(f"\ntotal run time {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
