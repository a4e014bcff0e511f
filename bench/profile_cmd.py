#!/usr/bin/python3
"""Profile a Python script (manage.py) with cProfile, from inside the container.

    /usr/bin/python3 /work/main/bench/profile_cmd.py --top 15 -- /work/main/manage.py list --json

Runs SCRIPT as __main__ with ARGS under cProfile (its own output discarded) and prints
the `top` entries by `sort` (cumulative by default) whose "file:line(function)" matches
`match` (a regex; by default warlockd's own code and the libraries it calls out to).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import runpy
import sys
from collections.abc import Iterator
from typing import NoReturn

DEFAULT_MATCH = r"warlockd/|pystemd|psutil|jinja2|tomllib|typer/main|click/core|subprocess"
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
PREFIXES = (ROOT + "/", "/usr/lib/python3/dist-packages/", "/usr/lib/python3.11/")


@contextlib.contextmanager
def _exit_raises() -> Iterator[None]:
    """manage.py leaves through os._exit (warlockd.entry.run), which would take the
    profile with it: make it a SystemExit while the script runs."""

    def leave(code: int) -> NoReturn:
        raise SystemExit(code)

    real, os._exit = os._exit, leave  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--top", type=int, default=15, help="entries to print")
    parser.add_argument("--match", default=DEFAULT_MATCH, help="regex on file:line(function)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- SCRIPT [ARG...]")
    options = parser.parse_args(argv)
    cmd: list[str] = options.cmd[1:] if options.cmd[:1] == ["--"] else options.cmd
    if not cmd:
        parser.error("give a script: -- SCRIPT [ARG...]")
    sys.argv = list(cmd)
    profiler = cProfile.Profile()
    sink = io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        profiler.enable()
        try:
            with _exit_raises():
                runpy.run_path(cmd[0], run_name="__main__")
        except SystemExit as e:
            code = e.code
        finally:
            profiler.disable()
    report = io.StringIO()
    stats = pstats.Stats(profiler, stream=report)
    stats.sort_stats(options.sort).print_stats(options.match, options.top)
    text = report.getvalue()
    for prefix in PREFIXES:
        text = text.replace(prefix, "")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print(f"exit code {code}; {stats.total_tt * 1000:.0f} ms profiled")  # type: ignore[attr-defined]
    print("\n".join(line for line in lines[start:] if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
