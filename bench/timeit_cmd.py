#!/usr/bin/python3
"""Time a command from inside the container: no nsenter, no container.run overhead.

    /usr/bin/python3 /work/main/bench/timeit_cmd.py --repeat 30 --warmup 3 -- CMD [ARG...]

Runs CMD with subprocess (stdout to /dev/null, stderr captured), `warmup` times untimed
then `repeat` times with time.perf_counter() around subprocess.run(), and prints JSON
{"median", "p90", "min", "max", "n"} in milliseconds. With --cpu the figures are the CPU
time the command used (user + system, from getrusage of the finished child) instead of
wall time. Exits 1 if CMD ever fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

from bench.stats import summarize


def run_once(cmd: list[str], cwd: str | None, cpu: bool = False) -> float:
    """One run of cmd; its wall time (or CPU time) in milliseconds."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd
    )
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()
        raise SystemExit(f"timeit_cmd: {cmd!r} exited with {result.returncode}: {err}")
    if cpu:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return used * 1000
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--cwd", default=None, help="directory to run CMD in")
    parser.add_argument("--cpu", action="store_true", help="CPU time, not wall time")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    options = parser.parse_args(argv)
    cmd: list[str] = options.cmd[1:] if options.cmd[:1] == ["--"] else options.cmd
    if not cmd:
        parser.error("give a command: -- CMD [ARG...]")
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")
    for _ in range(options.warmup):
        run_once(cmd, options.cwd, options.cpu)
    samples = [run_once(cmd, options.cwd, options.cpu) for _ in range(options.repeat)]
    print(json.dumps(summarize(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
