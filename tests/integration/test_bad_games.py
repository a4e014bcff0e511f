"""Games that go wrong, on a real systemd: clear errors, nothing half-made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.container import SystemdContainer
from tests.integration.test_instances import MANAGE, REPO, create, manage, show, snapshot

SILENT = """
guid = "b29ff4f1-070b-48a2-ac4e-5d54619f4d11"
slug = "silent"
title = "A server that never answers its query"
[run]
command = ["/bin/sleep", "600"]
start_timeout = 4
[[ports]]
key = "game"
protocol = "udp"
default = 35000
[query]
protocol = "warlock-status"
"""
MISSING = """
guid = "0a392b9f-54f1-4f4c-843c-846dd30e4b35"
slug = "missing"
title = "A game whose Debian package does not exist"
[install]
source = "apt"
packages = ["warlock-no-such-package-xyz"]
[run]
command = ["/usr/games/nothing"]
[[ports]]
key = "game"
protocol = "udp"
default = 35100
"""

# Burns CPU for 9 s (a map loading), then becomes the example server: far past its 4 s
# start timeout, which the runner extends while the game's CPU time grows.
SLOW = f"""
guid = "5d0c6a4e-9f3b-4b1e-8c2d-7a6e5f4d3c21"
slug = "slowload"
title = "A server that loads for 9 s"
[run]
command = ["/usr/bin/python3", "-c", "import os, sys, time; t = time.monotonic() + 9; \
any(time.monotonic() > t for _ in iter(int, 1)); \
os.execv(sys.executable, [sys.executable, '{REPO}/bundled/example/server.py'])"]
start_timeout = 4
[[ports]]
key = "game"
protocol = "both"
default = 35200
env = "SERVER_PORT"
[query]
protocol = "warlock-status"
port = "game"
"""


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        booted.run(["mkdir", "-p", "/etc/warlock/installers.d"])
        for slug, text in (("silent", SILENT), ("missing", MISSING), ("slowload", SLOW)):
            booted.run(
                ["bash", "-c", f"cat > /etc/warlock/installers.d/{slug}.toml <<'EOF'\n{text}\nEOF"]
            )
        yield booted


def test_a_server_that_never_answers_its_query_fails_to_start_with_a_clear_message(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--app", "silent", "--instance-name", "Mute")
    result = manage(ct, "--instance", inst["id"], "--start", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "did not become ready within 4 s" in result.stderr, result.stderr
    unit = f"game@{inst['id']}.service"
    assert ct.systemctl("is-active", unit).stdout.strip() != "active"
    manage(ct, "--instance", inst["id"], "--stop")
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_game_that_loads_past_its_start_timeout_gets_it_extended_while_it_works(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--app", "slowload", "--instance-name", "Slow")
    unit = f"game@{inst['id']}.service"
    result = manage(ct, "--instance", inst["id"], "--start", check=False)
    assert result.returncode == 0, result.stderr
    assert show(ct, unit, "ActiveState", "Result") == {"ActiveState": "active", "Result": "success"}
    journal = ct.run(["journalctl", "--no-pager", "-o", "cat", "-u", unit]).stdout
    ready = [line for line in journal.splitlines() if "ready after" in line]
    assert len(ready) == 1 and float(ready[0].split("ready after ")[1].split()[0]) >= 9.0
    manage(ct, "--instance", inst["id"], "--stop")
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
    assert ct.systemctl("is-active", unit).stdout.strip() != "active"


def test_a_debian_package_that_does_not_exist_creates_nothing(ct: SystemdContainer) -> None:
    before = snapshot(ct)
    result = ct.run([*MANAGE, "--create", "--app", "missing"], check=False, timeout=180)
    assert result.returncode != 0 and result.stdout == ""
    assert "warlock-no-such-package-xyz" in result.stderr and "not found" in result.stderr
    assert snapshot(ct) == before
