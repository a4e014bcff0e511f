"""The web dashboard in headless Chromium at 200 instances, beside a baseline from the same run.

    /usr/bin/python3 -m bench.dashboard [--instances 200] [--window 600] [--loads 5]

As root (it boots a throw-away systemd container); Debian's interpreter, or the project's
venv, for python3-selenium. Chromium runs on the host: the container shares its network,
so warlockd's port inside is the host's 127.0.0.1:PORT. The session comes from logging in
through the page's own form with a user made by `warlock user add` (scope admin, so every
row has its action buttons).

Targets (issue: the web dashboard):
1. the overview's first load at N instances, cold cache, after login: <= 300 KB over the
   wire (every response but the event stream: HTML, CSS, JS modules, API JSON; 1 KB = 1000
   bytes) and <= 1 s from navigation start until all N rows are drawn. Baseline: the same
   browser loading GET /api/v1/instances alone as a document (its bytes; its load event);
2. the overview left open for WINDOW_S of live updates while instances change state (every
   10 s: two restarts, one SIGKILL, one stop, and the previous round's stop started again):
   JS heap (JSHeapUsedSize after a forced GC) and DOM nodes (the renderer's Nodes count) at
   1 minute, each minute and at the end, in a tab holding the overview alone: no growth
   beyond the first minute's (judged on the largest later sample, with 5 % slack for the
   collector's noise).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

from bench.common import ensure_instances, instances, log, manage
from bench.dashboard_report import Figures, mb, report
from tests.harness.container import SystemdContainer, available, free_port

USER, PASSWORD = "bench", "bench-dashboard-password"
CHURN_EVERY = 10.0


# -- the container ------------------------------------------------------------------------


def prepare(container: SystemdContainer, n: int) -> tuple[str, int, list[str]]:
    """N example instances (started, memory permitting), warlockd with its API on a free
    port, a dashboard user. Returns the base URL, how many instances, the running ones."""
    running = ensure_instances(container, n)
    port = free_port()
    log(f"dashboard: {running} instances running; installing warlockd on port {port}")
    container.sh(
        f"mkdir -p /etc/warlock && printf '[api]\\nport = {port}\\n' > /etc/warlock/warlockd.toml"
    )
    container.run(manage("user", "add", "--name", USER, "--scope", "admin"), input=PASSWORD + "\n")
    container.run(manage("setup"), timeout=120)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    time.sleep(15)  # a sampling round or two: CPU and memory in the listing, as in use
    rows = instances(container)
    ids = [str(r["id"]) for r in rows if r["status"] == "running"]
    return f"http://127.0.0.1:{port}", len(rows), ids


class Churn(threading.Thread):
    """State changes while the page watches: every `every` s two restarts, one SIGKILL (the
    unit's Restart=on-failure brings it back), one stop, and last round's stop started."""

    def __init__(self, container: SystemdContainer, ids: list[str], every: float) -> None:
        super().__init__(daemon=True)
        self.container, self.ids, self.every = container, ids, every
        self.halt = threading.Event()
        self.actions = 0
        self.failures = 0

    def run(self) -> None:
        stopped: str | None = None
        k = 0
        while self.ids and not self.halt.wait(self.every):
            a, b, c, d = (self.ids[(4 * k + j) % len(self.ids)] for j in range(4))
            k += 1
            cmds = [
                f"systemctl --no-block restart game@{a}.service game@{b}.service",
                f"systemctl kill --signal=SIGKILL game@{c}.service",
                f"systemctl --no-block stop game@{d}.service",
            ]
            if stopped is not None:
                cmds.append(f"systemctl --no-block start game@{stopped}.service")
            stopped = d
            result = self.container.run(["sh", "-c", " && ".join(cmds)], check=False, timeout=60)
            self.actions += len(cmds) + 1
            self.failures += result.returncode != 0
        if stopped is not None:
            self.container.run(
                ["systemctl", "--no-block", "start", f"game@{stopped}.service"], check=False
            )


# -- the two measures ---------------------------------------------------------------------


def measure_loads(base: str, figures: Figures, loads: int, screenshot: str | None) -> None:
    """The JSON alone, a cold load of the overview and a warm one (its files revalidated by
    ETag), `loads` rounds of the three in turn so the machine's noise falls on all alike."""
    from bench import dashboard_browser as b

    driver = b.browser(perf_log=True)
    try:
        b.probe(driver, figures.n)
        b.login(driver, base, USER, PASSWORD)
        b.wait_rows(driver)
        for i in range(loads):
            log(f"dashboard: page loads, round {i + 1} of {loads}")
            figures.json.append(b.json_load(driver, base))
            figures.cold.append(b.overview_load(driver, base, cold=True))
            figures.warm.append(b.overview_load(driver, base, cold=False))  # after the cold one
        if screenshot:
            b.overview_load(driver, base, cold=False)
            driver.save_screenshot(screenshot)
    finally:
        driver.quit()


def measure_memory(
    container: SystemdContainer, base: str, ids: list[str], figures: Figures, window: float
) -> None:
    """The overview open for `window` s of live updates; memory at 1 min, each minute, end."""
    from bench import dashboard_browser as b

    first = min(60.0, window / 2)
    marks = sorted({first, window, *(60.0 * k for k in range(2, int(window // 60) + 1))})
    driver = b.browser(perf_log=False)
    churn = Churn(container, ids, CHURN_EVERY)
    try:
        b.login(driver, base, USER, PASSWORD)
        b.fresh_tab(driver)  # without the login page, which Chromium keeps for Back
        b.probe(driver, figures.n)
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get(f"{base}/")
        b.wait_rows(driver)
        started = time.monotonic()
        churn.start()
        log(f"dashboard: overview open for {window:.0f} s, instances changing state")
        for mark in marks:
            time.sleep(max(0.0, started + mark - time.monotonic()))
            sample = b.memory(driver)
            figures.samples.append((time.monotonic() - started, sample))
            m = sample["metrics"]
            log(
                f"dashboard: {mark:4.0f} s  heap {mb(m['JSHeapUsedSize'])}  "
                f"nodes {m['Nodes']:.0f}  events {sample['page']['events']}"
            )
        churn.halt.set()
        churn.join(timeout=120)
        figures.stale = agree(container, lambda: b.statuses(driver))
    finally:
        churn.halt.set()
        if churn.is_alive():
            churn.join(timeout=120)
        figures.churn_actions, figures.churn_failures = churn.actions, churn.failures
        driver.quit()
    figures.window = window


def agree(
    container: SystemdContainer, page: Callable[[], dict[str, str]], within: float = 60
) -> list[str]:
    """Once the state changes stop: do the rows show what warlockd lists? Waits `within` s
    for restarts to finish; returns the rows that still differ ("name: page X, API Y")."""
    deadline = time.monotonic() + within
    while True:
        time.sleep(5)
        listed = {str(r["id"]): r for r in instances(container)}
        shown = page()
        stale = [f"{r['name']}: page {shown.get(i)}, API {r['status']}"
                 for i, r in listed.items() if shown.get(i) != r["status"]]  # fmt: skip
        if not stale or time.monotonic() > deadline:
            return stale


# -- running it ---------------------------------------------------------------------------


def run(container: SystemdContainer, args: argparse.Namespace) -> Figures:
    base, n, ids = prepare(container, args.instances)
    figures = Figures(n=n, running=len(ids))
    if args.loads:
        measure_loads(base, figures, args.loads, args.screenshot)
    if args.window > 0:
        measure_memory(container, base, ids, figures, args.window)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m bench.dashboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--instances", type=int, default=200, help="N (default 200)")
    parser.add_argument(
        "--window",
        type=float,
        default=600,
        help="seconds of live updates for the memory figures (default 600; 0: skip)",
    )
    parser.add_argument(
        "--loads",
        type=int,
        default=5,
        help="cold loads, warm loads and baseline loads each (default 5; 0: skip)",
    )
    parser.add_argument("--screenshot", help="save a PNG of the overview there")
    args = parser.parse_args()
    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("needs python3-selenium: run with /usr/bin/python3 or the venv", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    log("booting a throw-away systemd container")
    with SystemdContainer() as container:
        log(f"booted in {container.boot_seconds or 0:.1f} s")
        figures = run(container, args)
        log("powering the container off")
    report(figures)
    print(
        f"\ntotal run time {time.monotonic() - started:.0f} s; 1-min load average at start, "
        f"end: {load_before:.1f}, {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
