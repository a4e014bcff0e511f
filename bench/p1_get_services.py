"""P1: `manage.py --instance X --get-services` with one running instance.

Targets: median <= 150 ms, and <= 1.5x the cost of `python3 -c 'import typer'`
(the floor any typer CLI pays) measured in the same container, same run.

    python3 -m bench.p1_get_services      # needs root
"""

from __future__ import annotations

import sys

from bench.common import (
    PYTHON,
    Result,
    cprofile_top,
    ensure_instances,
    importtime_top,
    log,
    manage,
    running_ids,
    standalone,
    timeit,
)
from tests.harness.container import SystemdContainer

TARGET_MS = 150.0
TARGET_RATIO = 1.5
REPEAT = 30
WARMUP = 3


def run(container: SystemdContainer) -> list[Result]:
    ensure_instances(container, 1)
    ids = running_ids(container)
    if not ids:
        raise RuntimeError("P1 needs a running instance and none would start")
    instance_id = ids[0]
    log(f"P1: timing get-services of {instance_id} ({REPEAT} runs after {WARMUP} warm-ups)")
    bare = timeit(container, [PYTHON, "-c", "pass"], repeat=REPEAT, warmup=WARMUP)
    typer = timeit(container, [PYTHON, "-c", "import typer"], repeat=REPEAT, warmup=WARMUP)
    args = ("--instance", instance_id, "--get-services")
    subject = timeit(container, manage(*args), repeat=REPEAT, warmup=WARMUP)
    results = [
        Result("P1 baseline: python3 -c pass", bare),
        Result("P1 baseline: python3 -c 'import typer'", typer),
        Result(
            "P1 get-services, 1 running", subject, target_ms=TARGET_MS,
            baseline_name="import typer", baseline=typer, target_ratio=TARGET_RATIO,
        ),
    ]  # fmt: skip
    if results[-1].verdict != "PASS":
        print("\nP1 missed its target; where the time goes (python3 -X importtime):")
        print(importtime_top(container, args), flush=True)
        print(cprofile_top(container, args), flush=True)
    return results


if __name__ == "__main__":
    sys.exit(standalone("P1: get-services", run))
