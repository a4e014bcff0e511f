"""The Warlock panel's minute poll: CPU per call of get-metrics and get-services, and the
whole poll of 200 instances as a share of one core, in both registration layouts.

    python3 -m bench.poll_cost          # needs root; boots its own container (~3 min)

A panel polls every registered instance every minute (`tasks/metrics_poll.mjs`), each
call a fresh `manage.py` over SSH: with seed 002's layout (one registration per
instance) 200 instances are 200 calls a minute, with the per-game layout one call per
game. What counts is CPU, not wall time: the host's cores belong to its games. Each
figure is the median CPU time (user + system of the finished process) of 30 calls,
beside `python3 -c pass` (the interpreter's floor) measured in the same run, and beside
the live path (the same call while warlockd is stopped: systemd, the manifest and the
game's query) measured after it.

Targets (issue 16): CPU per call <= 1.5x the floor; the poll of 200 instances <= 6 % of
one core in the per-instance layout and <= 0.5 % in the per-game layout.
"""

from __future__ import annotations

import json
import sys
import time

from bench.common import (
    MANAGE,
    PYTHON,
    Result,
    Stats,
    ensure_instances,
    instances,
    log,
    standalone,
    timeit,
)
from tests.harness.container import SystemdContainer

N = 200
RUNNING = 10
REPEAT = 30
GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"  # the example game's
TARGET_RATIO = 1.5
TARGET_SHARE_INSTANCE = 6.0  # % of one core
TARGET_SHARE_GAME = 0.5


def _share(per_call: Stats, calls_per_minute: int) -> float:
    return per_call.median * calls_per_minute / 60_000 * 100


def _wait_for_answers(container: SystemdContainer, n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        have = container.sh("ls /run/warlock/instances 2>/dev/null | grep -c 'answer$' || true")
        if int(have or 0) >= n:
            return
        time.sleep(1)
    raise RuntimeError("warlockd wrote no answers for every instance within 60 s")


def _per_game(container: SystemdContainer, layout: str) -> None:
    conf = "/etc/warlock/warlockd.toml"
    container.sh(f"sed -i '/^\\[panel\\]/,/^$/d' {conf}; printf '\\n[panel]\\nregistration = "
                 f"\"{layout}\"\\n' >> {conf}")  # fmt: skip
    container.run([PYTHON, MANAGE, "setup"], timeout=300)


def run(container: SystemdContainer) -> list[Result]:
    container.run([PYTHON, MANAGE, "setup"], timeout=120)  # warlockd.service
    ensure_instances(container, RUNNING)
    ensure_instances(container, N, start=False)
    rows = instances(container)
    running = next(str(r["id"]) for r in rows if r["status"] == "running")
    path = next(str(r["path"]) for r in rows if r["id"] == running)
    _wait_for_answers(container, len(rows))
    log(f"{len(rows)} instances, {RUNNING} running; timing CPU per call ({REPEAT} each)")
    floor = timeit(container, [PYTHON, "-c", "pass"], repeat=REPEAT, cpu=True)
    own = [PYTHON, f"{path}/manage.py"]  # the instance's own, as the panel runs it
    metrics = timeit(container, [*own, "--get-metrics"], repeat=REPEAT, cpu=True)
    services = timeit(container, [*own, "--get-services"], repeat=REPEAT, cpu=True)
    named = timeit(container, [PYTHON, MANAGE, "--instance", running, "get-services"],
                   repeat=REPEAT, cpu=True)  # fmt: skip
    check = json.loads(container.run([*own, "--get-metrics"]).stdout)
    if next(iter(check.values()))["source"] != "cache":
        log("warning: get-metrics did not answer from warlockd's answers")

    _per_game(container, "game")
    game = [PYTHON, f"/var/lib/warlock/games/{GUID}/manage.py"]
    whole = json.loads(container.run([*game, "--get-services"]).stdout)
    log(f"per-game layout: one call lists {len(whole)} instances")
    game_services = timeit(container, [*game, "--get-services"], repeat=REPEAT, cpu=True)
    game_metrics = timeit(container, [*game, "--get-metrics"], repeat=REPEAT, cpu=True)
    _per_game(container, "instance")

    log("the live path: warlockd stopped, so no answers (the same calls)")
    container.run(["systemctl", "stop", "warlockd.service"])
    live_metrics = timeit(container, [*own, "--get-metrics"], repeat=10, cpu=True)
    live_services = timeit(container, [*own, "--get-services"], repeat=10, cpu=True)
    container.run(["systemctl", "start", "warlockd.service"])

    def per_call(name: str, stats: Stats) -> Result:
        return Result(name, stats, baseline_name="python3 -c pass", baseline=floor,
                      target_ratio=TARGET_RATIO)  # fmt: skip

    results = [
        Result("poll baseline: python3 -c pass (CPU)", floor),
        per_call("get-metrics, instance's manage.py (CPU)", metrics),
        per_call("get-services, instance's manage.py (CPU)", services),
        per_call("manage.py --instance X get-services (CPU)", named),
        Result(f"per-game get-services, {len(whole)} instances (CPU)", game_services),
        Result(f"per-game get-metrics, {len(whole)} instances (CPU)", game_metrics),
        Result("live get-metrics, warlockd stopped (CPU)", live_metrics,
               baseline_name="python3 -c pass", baseline=floor),
        Result("live get-services, warlockd stopped (CPU)", live_services,
               baseline_name="python3 -c pass", baseline=floor),
    ]  # fmt: skip
    shares = [
        ("per-instance layout: 200 get-metrics a minute", _share(metrics, N),
         TARGET_SHARE_INSTANCE),
        ("per-instance layout, live path", _share(live_metrics, N), TARGET_SHARE_INSTANCE),
        ("per-game layout: 1 get-metrics a minute", _share(game_metrics, 1), TARGET_SHARE_GAME),
    ]  # fmt: skip
    print("\nThe poll of 200 instances as a share of one core:")
    for name, share, target in shares:
        verdict = "PASS" if share <= target else "MISS"
        print(f"  {name:<48} {share:6.2f} %   target <= {target} %   {verdict}")
    return results


if __name__ == "__main__":
    code = standalone("The panel's poll: CPU per call (ms of CPU time)", run)
    sys.exit(code)
