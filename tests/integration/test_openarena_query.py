"""quake3 getstatus and rcon against a real OpenArena server (Debian's openarena-server).

No systemd here: the server runs as a plain subprocess on a free UDP port in a tmp dir.
Skipped when the package is missing, unless WARLOCK_REQUIRE_SYSTEMD=1 (CI).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from warlockd.protocols.quake3 import rcon
from warlockd.query import QueryResult, query

SERVER = Path("/usr/games/openarena-server")
PASSWORD = "warlock-test-rcon"
T = TypeVar("T")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        time.sleep(0.2)


@pytest.fixture
def openarena(tmp_path: Path) -> Iterator[int]:
    """A running OpenArena dedicated server on oa_dm1, 8 slots; yields its port."""
    if not SERVER.exists():
        if os.environ.get("WARLOCK_REQUIRE_SYSTEMD") == "1":
            pytest.fail(f"WARLOCK_REQUIRE_SYSTEMD=1 but {SERVER} is missing", pytrace=False)
        pytest.skip(f"{SERVER} not installed (apt install openarena-server)")
    port = free_udp_port()
    argv = [str(SERVER), "+set", "net_port", str(port), "+set", "fs_homepath", str(tmp_path)]
    argv += ["+set", "dedicated", "1", "+set", "sv_maxclients", "8"]
    argv += ["+set", "rconpassword", PASSWORD, "+set", "bot_enable", "1", "+map", "oa_dm1"]
    with (tmp_path / "server.log").open("wb") as log:
        # its own session: the wrapper script and the engine it runs die together
        server = subprocess.Popen(
            argv,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        yield port
    finally:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(server.pid, sig)
                server.wait(grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def test_openarena_answers_getstatus_and_rcon_adds_bots(openarena: int) -> None:
    port = openarena
    empty = wait_for(lambda: query("quake3", port), timeout=20)
    assert (empty.player_count, empty.max_players, empty.map) == (0, 8, "oa_dm1")
    assert empty.players == ()

    assert "Sarge" in rcon("127.0.0.1", port, PASSWORD, "addbot sarge 1")
    assert "Grunt" in rcon("127.0.0.1", port, PASSWORD, "addbot grunt 1")

    def two_players() -> QueryResult | None:
        result = query("quake3", port)
        return result if result and result.player_count == 2 else None

    full = wait_for(two_players, timeout=10)
    assert sorted(full.players) == ["Grunt", "Sarge"]
    assert (full.max_players, full.map) == (8, "oa_dm1")


def test_openarena_rcon_with_a_wrong_password_says_so(openarena: int) -> None:
    port = openarena
    wait_for(lambda: query("quake3", port), timeout=20)
    reply = rcon("127.0.0.1", port, "not-the-password", "addbot sarge 1")
    assert "Bad rconpassword" in reply
    result = query("quake3", port)
    assert result is not None and result.player_count == 0
