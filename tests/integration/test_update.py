"""A SteamCMD game on a real systemd: one shared install, update, rollback, prune.

SteamCMD cannot be reached from here: a stand-in (tests/fakes/steamcmd) replays recorded
SteamCMD output and writes a build whose "server" is the example game (or a broken one);
warlockd's code that builds and runs the steamcmd command line is the real one.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.container import SystemdContainer
from tests.integration.test_instances import MANAGE, manage, services

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures" / "steamcmd"
GUID = "c5735cc9-870c-4981-988a-b56c1a600e8c"
APPS = Path("/var/lib/warlock/apps") / GUID
MANIFEST = f"""
guid = "{GUID}"
slug = "fakesteam"
title = "A SteamCMD game"

[install]
source = "steamcmd"
app_id = 622970  # the app of the recorded transcript

[run]
command = ["/usr/bin/python3", "{{{{ install_path }}}}/server.py"]
watchdog = 0

[[ports]]
key = "game"
protocol = "both"
default = 34000
env = "SERVER_PORT"

[query]
protocol = "warlock-status"
port = "game"

[stop]
command = "stop"
timeout = 10

[env]
SAVE_DIR = "{{{{ path }}}}"
"""


def fake_steam(booted: SystemdContainer, manifest: str = MANIFEST) -> None:
    """The fake SteamCMD and the game `fakesteam` in a container; /srv/good is a build of
    the example game, /srv/bad one that exits at once."""
    booted.run(["mkdir", "-p", "/etc/warlock/installers.d", "/srv/good", "/srv/bad"])
    booted.run(
        ["bash", "-c", f"cat > /etc/warlock/installers.d/fakesteam.toml <<'EOF'\n{manifest}\nEOF"]
    )
    booted.run(["cp", str(REPO / "bundled" / "example" / "server.py"), "/srv/good/server.py"])
    booted.run(["bash", "-c", "echo 'raise SystemExit(5)' > /srv/bad/server.py"])
    fake = shlex.quote(str(REPO / "tests" / "fakes" / "steamcmd"))
    wrapper = f'#!/bin/sh\n. /etc/fake-steamcmd.env\nexec /usr/bin/python3 {fake} "$@"\n'
    booted.run(["bash", "-c", f"cat > /usr/local/bin/steamcmd <<'EOF'\n{wrapper}EOF\n"
                "chmod 755 /usr/local/bin/steamcmd"])  # fmt: skip


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    if not FIXTURES.is_dir():
        pytest.skip(f"no recorded SteamCMD output at {FIXTURES}")
    with SystemdContainer() as booted:
        fake_steam(booted)
        yield booted


def publish(ct: SystemdContainer, build: int, payload: str) -> None:
    """What Steam would serve next: build `build`, whose server is /srv/<payload>."""
    env = {
        "FAKE_STEAMCMD_TRANSCRIPT": "app_update_success_no_selfupdate.txt",
        "FAKE_STEAMCMD_BUILDID": str(build),
        "FAKE_STEAMCMD_PAYLOAD": f"/srv/{payload}",
        "FAKE_STEAMCMD_APPINFO": "generated",
        "FAKE_STEAMCMD_FIXTURES": str(FIXTURES),
        "FAKE_STEAMCMD_LOG": "/srv/steamcmd-calls.jsonl",
    }
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    ct.run(["bash", "-c", f"cat > /etc/fake-steamcmd.env <<'EOF'\n{text}EOF"])


def record(ct: SystemdContainer, instance_id: str) -> str:
    return ct.run(["cat", f"/var/lib/warlock/{GUID}.{instance_id}.toml"]).stdout


def builds(ct: SystemdContainer) -> set[str]:
    return set(ct.run(["ls", str(APPS)]).stdout.split())


def test_update_rolls_back_a_build_that_does_not_start_and_prunes_unused_builds(
    ct: SystemdContainer,
) -> None:
    publish(ct, 100, "good")
    a = json.loads(manage(ct, "--create", "--app", "fakesteam", "--instance-name", "A").stdout)
    b = json.loads(manage(ct, "create", "--app", "fakesteam", "--instance-name", "B").stdout)
    assert a["build"] == b["build"] == "100"
    calls = ct.run(["cat", "/srv/steamcmd-calls.jsonl"]).stdout.splitlines()
    assert sum("app_update" in c for c in calls) == 1  # the second instance shares the install
    argv = json.loads(calls[0])["argv"]
    assert argv[0] == "+force_install_dir" and argv[2:4] == ["+login", "anonymous"]
    for inst in (a, b):
        manage(ct, "--instance", inst["id"], "--start")
        assert services(ct, inst["id"])["status"] == "running"
    assert manage(ct, "--instance", a["id"], "--check-update", check=False).returncode == 1

    publish(ct, 200, "bad")  # Steam now serves a build that exits at once
    assert manage(ct, "--instance", a["id"], "--check-update", check=False).returncode == 0
    failed = ct.run([*MANAGE, "--instance", a["id"], "--update"], check=False, timeout=300)
    assert failed.returncode == 1
    assert "rolled back to build 100" in failed.stderr, failed.stderr
    assert json.loads(failed.stdout)["rolled_back"] is True
    assert 'build = "100"' in record(ct, a["id"])
    assert services(ct, a["id"])["status"] == "running"
    # a create after the failed update gets the build that works, not the broken one
    c = json.loads(manage(ct, "--create", "--app", "fakesteam", "--instance-name", "C").stdout)
    assert c["build"] == "100"

    publish(ct, 300, "good")
    done = json.loads(manage(ct, "update", "--instance", a["id"]).stdout)
    assert done["updated"] is True and done["new_build"] == "300"
    assert 'build = "300"' in record(ct, a["id"])
    assert services(ct, a["id"])["status"] == "running"
    assert services(ct, b["id"])["status"] == "running"  # B still runs build 100
    assert builds(ct) == {"100", "300"}  # 200 is used by nobody: pruned
    out = manage(ct, "events", "--instance", a["id"], "--since", "1h", "--json").stdout
    updates = [e["data"] for e in json.loads(out) if e["kind"] == "update"]
    assert [(u["new_build"], u["rolled_back"]) for u in updates] == [("200", True), ("300", False)]
    for inst in (a, b, c):
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
