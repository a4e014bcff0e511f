"""Runs inside the container (Debian's python3): warlockd.service with 200 instances.

Prints one JSON object: the daemon's RSS and CPU share over a window, get-metrics timing
from the cache beside `python3 -c 'import typer'`, and how many of 50 simultaneous
crashes were recorded as events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SNAP = Path(__file__).resolve().parent.parent
PY = "/usr/bin/python3"
MANAGE = [PY, str(SNAP / "manage.py")]
TIMEIT = [PY, str(SNAP / "bench" / "timeit_cmd.py")]


def sh(*argv: str, timeout: float = 600) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout


def daemon_pid() -> int:
    return int(sh("systemctl", "show", "-p", "MainPID", "--value", "warlockd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timeit(cmd: list[str]) -> dict[str, float]:
    out = sh(*TIMEIT, "--repeat", "20", "--warmup", "3", "--", *cmd)
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    n, window = int(sys.argv[1]), float(sys.argv[2])
    sh(*MANAGE, "setup")
    ids = []
    for i in range(n):
        out = sh(*MANAGE, "--create", "--app", "example", "--instance-name", f"D{i}")
        ids.append(json.loads(out)["id"])
    starts = "\n".join(ids) + "\n"
    subprocess.run(
        ["xargs", "-P", "4", "-I{}", *MANAGE, "--instance", "{}", "--start"],
        input=starts,
        text=True,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    time.sleep(15)  # the daemon sees them all and settles into its cadence
    pid = daemon_pid()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    cpu_share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
    rss = rss_mb(pid)
    metrics = timeit([*MANAGE, "--instance", ids[0], "--get-metrics"])
    source = json.loads(sh(*MANAGE, "--instance", ids[0], "--get-metrics"))
    typer = timeit([PY, "-c", "import typer"])
    crashed = ids[:50]
    since = time.time()
    for iid in crashed:  # all at once: open every console without waiting on the others
        fd = os.open(f"/var/lib/warlock/instances/{iid}/console", os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"crash\n")
        os.close(fd)
    time.sleep(20)
    events = json.loads(sh(*MANAGE, "events", "--since", "5m", "--json"))
    seen = {e["instance_id"] for e in events if e["ts"] >= since and e["kind"] == "crashed"}
    print(
        json.dumps(
            {
                "instances": n,
                "window_s": window,
                "daemon_cpu_percent": cpu_share,
                "daemon_rss_mb": rss,
                "get_metrics_ms": metrics,
                "import_typer_ms": typer,
                "get_metrics_source": next(iter(source.values()))["source"],
                "crashes": len(crashed),
                "crash_events": len(seen & set(crashed)),
            }
        )
    )


if __name__ == "__main__":
    main()
