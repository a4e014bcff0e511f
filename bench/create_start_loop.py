#!/usr/bin/python3
"""Time `manage.py --create` + `manage.py --instance ID --start` from inside the container.

    /usr/bin/python3 /work/main/bench/create_start_loop.py --count 50 --app example

Each iteration creates one instance (its id read from the JSON that --create prints),
then starts it; both are timed separately and together with time.perf_counter().
Prints JSON {"create": stats, "start": stats, "total": stats, "ids": [...]}, stats in ms
as bench.stats.summarize gives them. Exits 1 if a command fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, ROOT)

from bench.stats import summarize  # noqa: E402

PYTHON = "/usr/bin/python3"
MANAGE = os.path.join(ROOT, "manage.py")


def timed(cmd: list[str]) -> tuple[float, str]:
    """Run cmd; (wall time in ms, its stdout)."""
    started = time.perf_counter()
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(
            f"create_start_loop: {cmd!r} exited with {result.returncode}: {result.stderr.strip()}"
        )
    return elapsed, result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="instances to create and start")
    parser.add_argument("--app", default="example", help="app slug")
    parser.add_argument("--prefix", default="bench-p3", help="instance name prefix")
    options = parser.parse_args(argv)
    creates: list[float] = []
    starts: list[float] = []
    totals: list[float] = []
    ids: list[str] = []
    for i in range(options.count):
        name = f"{options.prefix}-{i}"
        t_create, out = timed([PYTHON, MANAGE, "--create", "--app", options.app,
                               "--instance-name", name])  # fmt: skip
        instance_id = str(json.loads(out)["id"])
        t_start, _ = timed([PYTHON, MANAGE, "--instance", instance_id, "--start"])
        creates.append(t_create)
        starts.append(t_start)
        totals.append(t_create + t_start)
        ids.append(instance_id)
    report = {
        "create": summarize(creates),
        "start": summarize(starts),
        "total": summarize(totals),
        "ids": ids,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
