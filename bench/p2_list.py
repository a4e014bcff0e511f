"""P2: the status of every instance, `manage.py list --json` and `manage.py list`, at N = 50
and N = 200 instances, beside `systemctl list-units 'game@*' --all` for reference.

Targets, for both spellings: median <= 250 ms at N = 200, and N = 200 <= 1.3x N = 50
(listing must not grow much with the number of instances).

    python3 -m bench.p2_list      # needs root; creates and starts 200 example servers
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import (
    Result,
    Stats,
    cprofile_top,
    ensure_instances,
    instances,
    log,
    manage,
    standalone,
    timeit,
)
from tests.harness.container import SystemdContainer

SIZES = (50, 200)
TARGET_MS = 250.0  # at the largest N
TARGET_RATIO = 1.3  # largest N over smallest N
REPEAT = 20
WARMUP = 3
# Seconds to wait after starting servers: each runner probes its game every 10 ms for its
# first second, and 150 servers starting four at a time would be timed, not the listing.
SETTLE = 10.0


@dataclass(frozen=True)
class Sample:
    """The three listings timed with `n` instances registered, `running` of them running."""

    n: int
    running: int
    systemctl: Stats
    list_json: Stats
    list_table: Stats


def measure(container: SystemdContainer, n: int) -> Sample:
    """Bring the container to n instances (all started, memory permitting), time the listings."""
    running = ensure_instances(container, n)
    log(f"P2: letting {running} servers settle for {SETTLE:.0f} s")
    time.sleep(SETTLE)
    have = len(instances(container))
    if have != n:
        log(f"P2: wanted {n} instances, {have} are registered")
    log(f"P2: timing listings at N={have} ({running} running), {REPEAT} runs each")
    return Sample(
        n=have,
        running=running,
        systemctl=timeit(
            container, ["systemctl", "list-units", "game@*", "--all", "--no-pager"],
            repeat=REPEAT, warmup=WARMUP,
        ),
        list_json=timeit(container, manage("list", "--json"), repeat=REPEAT, warmup=WARMUP),
        list_table=timeit(container, manage("list"), repeat=REPEAT, warmup=WARMUP),
    )  # fmt: skip


def results(samples: Sequence[Sample]) -> list[Result]:
    """Rows for every sample; the largest N carries the targets, against the smallest N."""
    samples = sorted(samples, key=lambda s: s.n)
    small, large = samples[0], samples[-1]
    out: list[Result] = []
    for s in samples:
        where = f"N={s.n} ({s.running} running)"
        judged = s is large and large is not small
        for label, stats, base, target in (
            ("systemctl list-units 'game@*' --all", s.systemctl, small.systemctl, False),
            ("list --json", s.list_json, small.list_json, True),
            ("list", s.list_table, small.list_table, True),
        ):
            out.append(
                Result(
                    f"P2 {label}, {where}", stats,
                    target_ms=TARGET_MS if judged and target else None,
                    baseline_name=f"N={small.n}" if judged else "",
                    baseline=base if judged else None,
                    target_ratio=TARGET_RATIO if judged and target else None,
                )
            )  # fmt: skip
    return out


def explain(container: SystemdContainer, rows: Sequence[Result]) -> None:
    """On a MISS, print where `list --json` spends its time (at the current N)."""
    if all(r.verdict in ("PASS", "-") for r in rows):
        return
    print("\nP2 missed a target; where `list --json` spends its time (at the current N):")
    print(cprofile_top(container, ("list", "--json")), flush=True)
    print(cprofile_top(container, ("list", "--json"), sort="tottime"), flush=True)


def run(container: SystemdContainer, sizes: Sequence[int] = SIZES) -> list[Result]:
    rows = results([measure(container, n) for n in sizes])
    explain(container, rows)
    return rows


if __name__ == "__main__":
    sys.exit(standalone("P2: list", run))
