"""warlockd.service under load: 200 example instances in the test container.

    python3 -m bench.daemon [N] [WINDOW_S]     # as root; defaults 200 and 300 (5 minutes)

Targets (issue: the daemon): daemon RSS <= 40 MB and CPU <= 1 % of one core at a 10 s
interval over 5 minutes; --get-metrics from the cache within P1's target (<= 150 ms and
<= 1.5x `import typer`); 50 simultaneous crashes all recorded as events.
"""

from __future__ import annotations

import json
import sys

from bench.common import PYTHON, SNAPSHOT, log, snapshot
from tests.harness.container import SystemdContainer, available


def run(container: SystemdContainer, n: int = 200, window: float = 300) -> list[str]:
    snapshot(container)
    inside = [PYTHON, str(SNAPSHOT / "bench" / "daemon_inside.py"), str(n), str(window)]
    out = container.run(inside, timeout=3600)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    gm, ty = d["get_metrics_ms"]["median"], d["import_typer_ms"]["median"]
    return [
        f"daemon with {d['instances']} running instances, over {d['window_s']:.0f} s: "
        f"CPU {d['daemon_cpu_percent']:.2f} % of one core (target <= 1 %): "
        f"{ok(d['daemon_cpu_percent'] <= 1)}; RSS {d['daemon_rss_mb']:.1f} MB "
        f"(target <= 40 MB): {ok(d['daemon_rss_mb'] <= 40)}",
        f"get-metrics from the {d['get_metrics_source']}: median {gm:.0f} ms, "
        f"import typer {ty:.0f} ms, ratio {gm / ty:.2f}x (target <= 150 ms, <= 1.5x): "
        f"{ok(gm <= 150 and gm / ty <= 1.5)}",
        f"50 simultaneous crashes: {d['crash_events']} of {d['crashes']} recorded as events: "
        f"{ok(d['crash_events'] == d['crashes'])}",
    ]


def ok(good: bool) -> str:
    return "PASS" if good else "MISS"


def main() -> int:
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 300
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        rows = run(container, n, window)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
