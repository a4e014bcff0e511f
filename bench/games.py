"""Game figures: install sharing on disk, runner memory, freeze-to-running time.

    python3 -m bench.games        # as root; boots its own container

Targets (issue: real games): the 2nd to 10th instance of an app cost <= 1 % of its
install on disk; a runner <= 12 MB resident; a frozen server runs again within two probe
intervals plus its start (here: WatchdogSec 6 s + RestartSec 5 s + start).
"""

from __future__ import annotations

import json
import statistics
import sys

from bench.common import PYTHON, ROOT, SNAPSHOT, log, snapshot
from tests.harness.container import SystemdContainer, available


def run(container: SystemdContainer) -> list[str]:
    snapshot(container)
    fixtures = ROOT.parent / "shared" / "fixtures" / "steamcmd"
    inside = [PYTHON, str(SNAPSHOT / "bench" / "games_inside.py"), str(fixtures)]
    out = container.run(inside, timeout=900)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    build, extra = data["build_bytes"], data["extra_bytes"]
    share = statistics.mean(extra) / build * 100
    runner_mb = data["median_runner_kb"] / 1024
    python_mb = data["python_rss_kb"] / 1024
    worst = max(data["freeze_to_running_s"])
    bound = data["watchdog_s"] + data["restart_s"] + 1
    rows = [
        f"disk: instances 2-10 each {statistics.mean(extra) / 1024:.0f} KiB beside a "
        f"{build / 2**20:.0f} MiB shared build = {share:.3f} % of the install "
        f"(target <= 1 %): {'PASS' if share <= 1 else 'MISS'}",
        f"memory: runner RSS median {runner_mb:.1f} MB, "
        f"max {max(data['runner_rss_kb']) / 1024:.1f} MB; "
        f"bare python3 asleep {python_mb:.1f} MB (ratio {runner_mb / python_mb:.2f}x) "
        f"(target <= 12 MB): {'PASS' if runner_mb <= 12 else 'MISS'}",
        "freeze: frozen to answering again "
        + ", ".join(f"{s:.1f} s" for s in data["freeze_to_running_s"])
        + f" (bound: watchdog {data['watchdog_s']} s + restart {data['restart_s']} s + start"
        f" < {bound} s): {'PASS' if worst < bound else 'MISS'}",
    ]
    return rows


def main() -> int:
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        rows = run(container)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
