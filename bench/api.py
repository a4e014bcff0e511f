"""The HTTP API at 200 instances, each figure beside its baseline from the same run.

    python3 -m bench.api [N] [WINDOW_S]     # as root; defaults 200 and 60

Targets (issue: the HTTP API):
- GET /api/v1/instances: median <= 15 ms, and >= 20x the requests per second of
  `manage.py list --json` for the same data (one client each, one after another);
- a state change in systemd (`systemctl kill` of a game) to the SSE event at a client:
  median <= 500 ms (beside: how long `systemctl kill` itself takes to return);
- warlockd with the API idle and with 10 SSE clients: RSS <= 60 MB, CPU <= 1 % of a core
  (beside: the same daemon with the API turned off).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from bench.common import PYTHON, SNAPSHOT, Result, Stats, ensure_instances, log, manage
from bench.common import print_table as show
from tests.harness.container import SystemdContainer, available, free_port

LISTING_MS, RATIO, SSE_MS, RSS_MB, CPU = 15.0, 20.0, 500.0, 60.0, 1.0


def _stats(median: float, p: float = 0.0, n: int = 1) -> Stats:
    return Stats(median=median, p90=p or median, min=median, max=median, n=n)


def rows(d: dict) -> list[Result]:  # type: ignore[type-arg]
    one, cli = d["api_one"], d["cli"]
    sse, kill = statistics.median(d["sse_ms"]), statistics.median(d["kill_ms"])
    where = f"N={d['instances']} ({d['running']} running)"
    return [
        Result(f"GET /api/v1/instances, 1 client (p90 column: p99), {where}",
               _stats(one["median"], one["p99"], one["n"]), target_ms=LISTING_MS,
               baseline_name="list --json", baseline=Stats.from_json(cli)),
        Result("systemctl kill -> SSE state event at a client (10 kills; p90 column: max)",
               _stats(sse, max(d["sse_ms"]), len(d["sse_ms"])), target_ms=SSE_MS,
               baseline_name="systemctl kill returns", baseline=_stats(kill)),
    ]  # fmt: skip


def throughput_lines(d: dict) -> list[str]:  # type: ignore[type-arg]
    one, two, cli = d["api_one"], d["api_two"], d["cli"]
    ratio = one["rps"] / cli["rps"]
    return [
        f"GET /api/v1/instances, 1 client: {one['rps']:.0f} req/s; `list --json` one after "
        f"another: {cli['rps']:.1f}/s; {ratio:.0f}x (target >= {RATIO:.0f}x): "
        f"{'PASS' if ratio >= RATIO else 'MISS'}",
        f"GET /api/v1/instances, 2 clients: {two['rps']:.0f} req/s, median "
        f"{two['median']:.1f} ms, p99 {two['p99']:.1f} ms",
    ]


def usage_lines(d: dict) -> list[str]:  # type: ignore[type-arg]
    off, idle, busy = d["off"], d["idle"], d["streams10"]
    out = [f"warlockd over {d['window_s']:.0f} s at N={d['instances']}:"]
    for name, u, judged in (("API off (baseline)", off, False), ("API idle", idle, True),
                            ("API + 10 SSE clients", busy, True)):  # fmt: skip
        verdict = ""
        if judged:
            ok = u["rss_mb"] <= RSS_MB and u["cpu_percent"] <= CPU
            verdict = "PASS" if ok else "MISS"
        out.append(
            f"  {name:22} RSS {u['rss_mb']:5.1f} MB (+{u['rss_mb'] - off['rss_mb']:4.1f}) "
            f"CPU {u['cpu_percent']:5.2f} % of a core  {verdict}"
        )
    return out


def run(container: SystemdContainer, n: int = 200, window: float = 60) -> list[str]:
    running = ensure_instances(container, n)
    log(f"API: {running} instances running; installing warlockd with the API")
    port = free_port()
    container.run(["sh", "-c", f"mkdir -p /etc/warlock && printf '[api]\\nport = {port}\\n' "
                   "> /etc/warlock/warlockd.toml"])  # fmt: skip
    container.run(manage("setup"), timeout=120)
    time.sleep(10)
    log(f"API: measuring (three {window:.0f} s windows, listings, 10 kills)")
    inside = [PYTHON, str(SNAPSHOT / "bench" / "api_inside.py"), str(port), str(window)]
    out = container.run(inside, timeout=3600)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    show(rows(d), "HTTP API")
    lines = throughput_lines(d) + usage_lines(d)
    print("\n".join(lines), flush=True)
    return lines


def main() -> int:
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        run(container, n, window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
