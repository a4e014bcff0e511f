"""Shared pieces of the benchmarks: in-container timing, instance setup, the result table.

Every figure is measured *inside* the container by bench/timeit_cmd.py (or
bench/create_start_loop.py), so nsenter and container.run() overhead never count.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.container import SystemdContainer, available

ROOT = Path(__file__).resolve().parent.parent  # the checkout; same path inside the container
# Inside the container everything runs from a copy of the checkout taken once, at the
# start: others edit the checkout while benchmarks run, and a run must measure one
# consistent version. /srv, not /tmp: game units get a private /tmp.
SNAPSHOT = Path("/srv/warlockd-bench")
SNAPSHOT_EXCLUDES = (".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".benchmarks")
PYTHON = "/usr/bin/python3"  # Debian's: has python3-typer, pystemd...
MANAGE = str(SNAPSHOT / "manage.py")
TIMEIT = str(SNAPSHOT / "bench" / "timeit_cmd.py")
CREATE_START = str(SNAPSHOT / "bench" / "create_start_loop.py")
PROFILE = str(SNAPSHOT / "bench" / "profile_cmd.py")
APP = "example"
MB_PER_INSTANCE = 15  # resident memory of one running example server, upper end
MEMORY_RESERVE_MB = 1024  # left free when deciding how many instances to start


@dataclass(frozen=True)
class Stats:
    """Wall times of repeated runs, in milliseconds."""

    median: float
    p90: float
    min: float
    max: float
    n: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        return cls(
            median=float(data["median"]),
            p90=float(data["p90"]),
            min=float(data["min"]),
            max=float(data["max"]),
            n=int(data["n"]),
        )

    def figure(self) -> str:
        return f"{fmt_ms(self.median)} (p90 {fmt_ms(self.p90)}, min {fmt_ms(self.min)})"


@dataclass(frozen=True)
class Result:
    """One row of the final table.

    `target_ms` bounds the median; `ratio` is median / baseline median and
    `target_ratio` bounds it. A row with neither target is for reference only.
    """

    name: str
    stats: Stats
    target_ms: float | None = None
    baseline_name: str = ""
    baseline: Stats | None = None
    target_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median <= 0:
            return None
        return self.stats.median / self.baseline.median

    @property
    def verdict(self) -> str:
        misses = []
        if self.target_ms is not None and self.stats.median > self.target_ms:
            misses.append("time")
        ratio = self.ratio
        if self.target_ratio is not None and ratio is not None and ratio > self.target_ratio:
            misses.append("ratio")
        if self.target_ms is None and self.target_ratio is None:
            return "-"
        return f"MISS ({', '.join(misses)})" if misses else "PASS"

    def target_text(self) -> str:
        parts = []
        if self.target_ms is not None:
            parts.append(f"<= {fmt_ms(self.target_ms)}")
        if self.target_ratio is not None:
            parts.append(f"<= {self.target_ratio:.2f}x")
        return ", ".join(parts) or "-"

    def baseline_text(self) -> str:
        if self.baseline is None:
            return "-"
        return f"{self.baseline_name} {fmt_ms(self.baseline.median)}"

    def ratio_text(self) -> str:
        ratio = self.ratio
        return "-" if ratio is None else f"{ratio:.2f}x"


def fmt_ms(ms: float) -> str:
    """Milliseconds, to a precision that means something for process wall times."""
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def format_table(results: Sequence[Result]) -> str:
    header = ["benchmark", "median (p90, min)", "target", "baseline", "ratio", "result"]
    rows = [header] + [
        [r.name, r.stats.figure(), r.target_text(), r.baseline_text(), r.ratio_text(), r.verdict]
        for r in results
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_table(results: Sequence[Result], title: str = "") -> None:
    if title:
        print(f"\n{title}")
    print(format_table(results), flush=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- measuring inside the container -----------------------------------------------------


def snapshot(container: SystemdContainer) -> None:
    """Copy the checkout to SNAPSHOT inside the container, once (idempotent)."""
    if container.run(["test", "-f", MANAGE], check=False).returncode == 0:
        return
    excludes = " ".join(f"--exclude=./{shlex.quote(e)}" for e in SNAPSHOT_EXCLUDES)
    script = (
        f"mkdir -p {SNAPSHOT} && tar -C {shlex.quote(str(ROOT))} {excludes} -cf - . "
        f"| tar -C {SNAPSHOT} -xf -"
    )
    container.run(["sh", "-c", script])
    log(f"benchmarking a copy of {ROOT} ({describe_checkout()}) at {SNAPSHOT}")


def describe_checkout() -> str:
    """The commit and whether the code had uncommitted changes, for the record."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--short", "--", "warlockd", "units",
             "installers", "manage.py"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {head}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def timeit(
    container: SystemdContainer,
    argv: Sequence[str],
    *,
    repeat: int = 30,
    warmup: int = 3,
    timeout: float = 300,
    cpu: bool = False,
) -> Stats:
    """Median/p90/min of `argv` run `repeat` times (after `warmup`) inside the container:
    wall time, or with `cpu` the CPU time (user + system) each run used."""
    cmd = [PYTHON, TIMEIT, "--repeat", str(repeat), "--warmup", str(warmup),
           *(["--cpu"] if cpu else []), "--", *argv]  # fmt: skip
    result = container.run(cmd, timeout=timeout)
    return Stats.from_json(json.loads(result.stdout))


def manage(*args: str) -> list[str]:
    """The manage.py command line as a Warlock panel runs it."""
    return [PYTHON, MANAGE, *args]


def instances(container: SystemdContainer) -> list[dict[str, Any]]:
    """`manage.py list --json`, parsed."""
    rows: list[dict[str, Any]] = json.loads(container.run(manage("list", "--json")).stdout)
    return rows


def running_ids(container: SystemdContainer) -> list[str]:
    return [str(r["id"]) for r in instances(container) if r["status"] == "running"]


def count_running_units(container: SystemdContainer) -> int:
    out = container.run(
        ["systemctl", "list-units", "game@*", "--state=running", "--no-legend", "--plain"]
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def _startable(n: int) -> int:
    """How many more example servers memory allows (the container shares this kernel)."""
    available_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available_kb = int(line.split()[1])
    fits = (available_kb // 1024 - MEMORY_RESERVE_MB) // MB_PER_INSTANCE
    return max(0, min(n, fits))


def ensure_instances(
    container: SystemdContainer, n: int, *, start: bool = True, prefix: str = "bench"
) -> int:
    """Have at least n instances of the example app, started (memory permitting).

    The creates run as one shell loop inside the container (one nsenter, not n), the
    starts as one `xargs -P 4`. Returns how many game@ units are running afterwards.
    """
    snapshot(container)
    have = len(instances(container))
    if have < n:
        log(f"creating instances {have + 1}..{n}")
        create = (
            f"for i in $(seq {have + 1} {n}); do "
            f"{PYTHON} {MANAGE} --create --app {APP} --instance-name {prefix}-$i >/dev/null "
            "|| exit 1; done"
        )
        container.run(["sh", "-c", create], timeout=60 + 3 * (n - have))
    if start:
        stopped = [str(r["id"]) for r in instances(container) if r["status"] != "running"]
        budget = _startable(len(stopped))
        if budget < len(stopped):
            log(f"memory allows starting only {budget} of {len(stopped)} stopped instances")
        if budget:
            log(f"starting {budget} instances")
            start_all = (
                f"xargs -r -P 4 -I ID {shlex.quote(PYTHON)} {shlex.quote(MANAGE)} "
                "--instance ID --start"
            )
            result = container.run(
                ["sh", "-c", start_all], input="\n".join(stopped[:budget]) + "\n",
                timeout=60 + 2 * budget, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                errors = [line for line in result.stderr.splitlines() if "error" in line]
                log(f"some starts failed ({len(errors)}): " + " | ".join(errors[:3]))
    return count_running_units(container)


# -- running a module on its own --------------------------------------------------------


def standalone(title: str, run: Callable[[SystemdContainer], list[Result]]) -> int:
    """Boot a container, run one benchmark module in it, print its table. Exit 0 even on MISS."""
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        log(f"booted in {container.boot_seconds or 0:.1f} s")
        snapshot(container)
        results = run(container)
    print_table(results, title)
    return 0


# -- evidence for a MISS ----------------------------------------------------------------


def importtime_top(container: SystemdContainer, args: Sequence[str], top: int = 15) -> str:
    """`python3 -X importtime manage.py ARGS` inside, the `top` imports by cumulative time."""
    cmd = [PYTHON, "-X", "importtime", MANAGE, *args]
    container.run(cmd, check=False)  # warm the page cache and __pycache__ first
    stderr = container.run(cmd, check=False).stderr
    rows: list[tuple[int, int, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    out = [f"{'cumulative':>10}  {'self':>8}  module   ({shlex.join(cmd)})"]
    out += [f"{c / 1000:>7.1f} ms  {s / 1000:>5.1f} ms  {n}" for c, s, n in rows[:top]]
    return "\n".join(out)


def cprofile_top(
    container: SystemdContainer, args: Sequence[str], top: int = 25, sort: str = "cumulative"
) -> str:
    """`manage.py ARGS` under cProfile inside; warlockd's and its libraries' top entries."""
    cmd = [PYTHON, PROFILE, "--top", str(top), "--sort", sort, "--", MANAGE, *args]
    result = container.run(cmd, check=False)
    head = f"cProfile, by {sort}: manage.py {shlex.join(args)}"
    return f"{head}\n{result.stdout.rstrip()}{result.stderr.rstrip()}"
