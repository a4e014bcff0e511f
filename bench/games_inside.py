"""Runs inside the container (Debian's python3, stdlib + the snapshot): the game figures.

1. Disk: ten instances of one SteamCMD-installed app share one build; what the 2nd to
   10th instance cost on disk, as a fraction of the build.
2. Memory: the resident size of each instance's runner, beside a bare `python3` asleep.
3. Freeze: from `freeze` on the console to the server answering its query again, with
   the watchdog doing the restart.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SNAP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SNAP))
from warlockd.query import warlock_status  # noqa: E402

PY = "/usr/bin/python3"
MANAGE = [PY, str(SNAP / "manage.py")]
GUID = "14b0ae1f-96aa-40b0-a454-fe8aa6bc4702"
FIXTURES = Path(sys.argv[1])  # the recorded SteamCMD output, beside the real checkout
MANIFEST = f"""
guid = "{GUID}"
slug = "benchgame"
title = "A 200 MB SteamCMD game"
[install]
source = "steamcmd"
app_id = 622970
[run]
command = ["/usr/bin/python3", "{{{{ install_path }}}}/server.py"]
watchdog = 6
[[ports]]
key = "game"
protocol = "both"
default = 36000
env = "SERVER_PORT"
[query]
protocol = "warlock-status"
port = "game"
[stop]
command = "stop"
[env]
SAVE_DIR = "{{{{ path }}}}"
"""


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def du(path: str) -> int:
    return int(sh("du", "-sb", path).split()[0])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def setup() -> None:
    payload = Path("/srv/bench-payload")
    payload.mkdir(parents=True, exist_ok=True)
    (payload / "server.py").write_text((SNAP / "bundled" / "example" / "server.py").read_text())
    with open(payload / "assets.pak", "wb") as f:  # the bulk of a real game's install
        f.write(os.urandom(200 * 1024 * 1024))
    Path("/etc/warlock/installers.d").mkdir(parents=True, exist_ok=True)
    Path("/etc/warlock/installers.d/benchgame.toml").write_text(MANIFEST)
    env = {
        "FAKE_STEAMCMD_TRANSCRIPT": "app_update_success_no_selfupdate.txt",
        "FAKE_STEAMCMD_BUILDID": "100",
        "FAKE_STEAMCMD_PAYLOAD": str(payload),
        "FAKE_STEAMCMD_FIXTURES": str(FIXTURES),
    }
    exports = "".join(f"export {k}='{v}'\n" for k, v in env.items())
    fake = SNAP / "tests" / "fakes" / "steamcmd"
    Path("/usr/local/bin/steamcmd").write_text(f'#!/bin/sh\n{exports}exec {PY} {fake} "$@"\n')
    os.chmod("/usr/local/bin/steamcmd", 0o755)


def main() -> None:
    setup()
    made = []
    for n in range(10):
        inst = json.loads(sh(*MANAGE, "--create", "--app", "benchgame", "--instance-name", f"B{n}"))
        sh(*MANAGE, "--instance", inst["id"], "--start")
        made.append(inst)
    time.sleep(1)  # a few ticks: every server has written its world once it stops
    build = du(f"/var/lib/warlock/apps/{GUID}/100")
    extra = [du(inst["path"]) for inst in made[1:]]
    runners = []
    for inst in made:
        pid = int(sh("systemctl", "show", "-p", "MainPID", "--value", f"game@{inst['id']}.service"))
        runners.append(rss_kb(pid))
    idle = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"])
    time.sleep(1)
    baseline = rss_kb(idle.pid)
    idle.kill()
    freezes = []
    for inst in made[:2]:
        port = inst["ports"]["game"]
        sh(*MANAGE, "--instance", inst["id"], "--cmd", "freeze")
        frozen = time.monotonic()
        while warlock_status("127.0.0.1", port, timeout=0.2) is not None:
            time.sleep(0.05)  # until the freeze has taken hold
        while warlock_status("127.0.0.1", port, timeout=0.2) is None:
            time.sleep(0.05)
        freezes.append(time.monotonic() - frozen)
    for inst in made:
        sh(*MANAGE, "--instance", inst["id"], "--delete", "--yes", "--purge")
    print(json.dumps({
        "build_bytes": build,
        "extra_bytes": extra,
        "runner_rss_kb": runners,
        "python_rss_kb": baseline,
        "freeze_to_running_s": freezes,
        "watchdog_s": 6,
        "restart_s": 5,
        "median_runner_kb": statistics.median(runners),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
