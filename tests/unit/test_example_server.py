"""The example game server, run for real as a subprocess on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

SERVER = Path(__file__).resolve().parents[2] / "bundled" / "example" / "server.py"
QUERY = b"\xffSTATUS"
T = TypeVar("T")


def free_port() -> int:
    """A port free on both TCP and UDP right now."""
    for _ in range(50):
        with (
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind(("0.0.0.0", 0))
            port: int = tcp.getsockname()[1]
            try:
                udp.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free on both tcp and udp")


def query(port: int, timeout: float = 0.5, payload: bytes = QUERY) -> dict[str, Any] | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except OSError:  # timeout, or ICMP refusal before the server bound
            return None
    assert data.startswith(QUERY + b"\n")
    reply: dict[str, Any] = json.loads(data[len(QUERY) + 1 :])
    return reply


def wait_for(check: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s")


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def players_become(self, n: int) -> None:
        wait_for(lambda: (q := query(self.port)) is not None and q["players"] == n)

    def finish(self, timeout: float = 5.0) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode()


Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []
    base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    base |= {"SERVER_ID": "test", "TICK_RATE": "50", "SAVE_DIR": str(tmp_path)}

    def run(**env: str | None) -> subprocess.Popen[bytes]:
        full = {k: v for k, v in (base | env).items() if v is not None}
        proc = subprocess.Popen(
            [sys.executable, str(SERVER)],
            env=full,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)


@pytest.fixture
def start(spawn: Spawn) -> Callable[..., Running]:
    def run(**env: str) -> Running:
        port = int(env.pop("SERVER_PORT", 0)) or free_port()
        proc = spawn(SERVER_PORT=str(port), **env)
        wait_for(lambda: proc.poll() is not None or query(port, 0.2) is not None)
        assert proc.poll() is None, proc.communicate(timeout=5)[1].decode()
        return Running(proc, port)

    return run


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # Short path: AF_UNIX addresses are limited to 108 bytes, pytest's tmp_path can be longer.
    with (
        tempfile.TemporaryDirectory(prefix="exsrv-") as d,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s,
    ):
        path = os.path.join(d, "notify")
        s.bind(path)
        yield s, path


def notifications(sock: socket.socket, seconds: float) -> list[str]:
    got, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


def test_udp_status_query_answers_with_the_server_info(start: Callable[..., Running]) -> None:
    server = start(SERVER_NAME="Demo", MAX_PLAYERS="8")
    reply = query(server.port)
    assert reply is not None
    assert reply["id"] == "test" and reply["name"] == "Demo" and reply["map"] == "example"
    assert (reply["players"], reply["max_players"]) == (0, 8)
    assert reply["tick"] >= 0 and reply["uptime"] >= 0


def test_other_datagrams_get_no_reply(start: Callable[..., Running]) -> None:
    server = start()
    assert query(server.port, 0.3, payload=b"hello") is None
    assert query(server.port) is not None


def test_query_reports_players_after_join(start: Callable[..., Running]) -> None:
    server = start()
    server.send("join 3")
    server.players_become(3)
    server.send("leave 1")
    server.players_become(2)


def test_join_is_capped_at_max_players(start: Callable[..., Running]) -> None:
    server = start(MAX_PLAYERS="4")
    server.send("join 10")
    server.players_become(4)


def test_tcp_connection_gets_the_same_status_as_a_json_line(start: Callable[..., Running]) -> None:
    server = start()
    server.send("join 2")
    server.players_become(2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    reply = json.loads(data)
    assert (reply["id"], reply["players"], reply["max_players"]) == ("test", 2, 16)


def test_end_of_stdin_does_not_stop_the_server(start: Callable[..., Running]) -> None:
    server = start()
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    time.sleep(0.2)
    assert server.proc.poll() is None
    assert query(server.port) is not None


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stop", "quit"])
def test_graceful_stop_exits_0_and_saves_the_world(
    start: Callable[..., Running], tmp_path: Path, how: str
) -> None:
    server = start()
    wait_for(lambda: (q := query(server.port)) is not None and q["tick"] > 5)
    if how.startswith("SIG"):
        server.proc.send_signal(signal.Signals[how])
    else:
        server.send(how)
    code, err = server.finish()
    assert code == 0, err
    assert json.loads((tmp_path / "world.json").read_text())["tick"] > 5
    assert f"[test] stopping ({how})" in err
    assert not [p for p in tmp_path.iterdir() if p.name != "world.json"]


def test_restart_resumes_the_tick_saved_by_sigterm(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    first = start()
    wait_for(lambda: (q := query(first.port)) is not None and q["tick"] > 5)
    first.proc.terminate()
    assert first.finish()[0] == 0
    saved = json.loads((tmp_path / "world.json").read_text())["tick"]
    second = start(SERVER_PORT=str(first.port))
    reply = query(second.port)
    assert reply is not None and reply["tick"] >= saved


def test_unreadable_world_json_refuses_to_start(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "world.json").write_text("{not json")
    proc = spawn(SERVER_PORT=str(free_port()))
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 2
    assert "world.json" in err.decode()


def test_crash_command_exits_3_without_saving(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    server = start()
    server.send("crash")
    code, err = server.finish()
    assert code == 3
    assert "[test] crashing" in err
    assert not (tmp_path / "world.json").exists()


def test_unknown_command_is_logged_with_the_instance_prefix(
    start: Callable[..., Running],
) -> None:
    server = start()
    server.send("dance wildly")
    server.send("status")
    server.send("quit")
    code, err = server.finish()
    assert code == 0
    assert "[test] unknown command: dance wildly" in err.splitlines()
    assert all(line.startswith("[test] ") for line in err.splitlines())


@pytest.mark.parametrize("port", [None, "", "abc", "0", "65536", "-1"])
def test_bad_server_port_exits_2_with_one_line_error(spawn: Spawn, port: str | None) -> None:
    proc = spawn(SERVER_PORT=port)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[test] error: ") and "SERVER_PORT" in lines[0]


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM])
def test_port_in_use_exits_4(spawn: Spawn, kind: socket.SocketKind) -> None:
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("0.0.0.0", free_port()))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        proc = spawn(SERVER_PORT=str(holder.getsockname()[1]))
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 4
    assert len(err.decode().splitlines()) == 1 and "in use" in err.decode()


def test_ready_is_notified_only_once_the_query_port_answers(
    spawn: Spawn, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    port = free_port()
    spawn(SERVER_PORT=str(port), NOTIFY_SOCKET=path)
    sock.settimeout(5)
    first = sock.recv(4096).decode()
    assert first.split("\n") == ["READY=1", "STATUS=players 0/16"]
    assert query(port, 0.5) is not None


def test_player_changes_and_stopping_are_notified(
    start: Callable[..., Running], notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    server = start(NOTIFY_SOCKET=path)
    server.send("join 2")
    server.players_become(2)
    server.proc.terminate()
    assert server.finish()[0] == 0
    got = notifications(sock, 0.2)
    assert got[0].startswith("READY=1")
    assert got[1:] == ["STATUS=players 2/16", "STOPPING=1"]


def test_watchdog_pings_stop_once_frozen_and_sigterm_is_ignored(
    start: Callable[..., Running], notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    server = start(NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    assert notifications(sock, 0.5).count("WATCHDOG=1") >= 4  # one per 50 ms
    server.send("freeze")
    wait_for(lambda: query(server.port, 0.2) is None)
    notifications(sock, 0.1)  # drop pings sent before the freeze took hold
    assert notifications(sock, 0.5) == []
    server.proc.terminate()
    time.sleep(0.3)
    assert server.proc.poll() is None  # only SIGKILL (the fixture's teardown) ends it


def test_console_fifo_takes_commands_and_survives_writers_leaving(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    fifo = tmp_path / "console"
    server = start(CONSOLE_FIFO=str(fifo))

    def write(line: bytes) -> None:
        # O_NONBLOCK: opening fails (ENXIO) rather than hangs while the server has no reader.
        fd = wait_for(lambda: _open_writer(fifo))
        os.write(fd, line)
        os.close(fd)

    write(b"join 2\n")
    server.players_become(2)
    time.sleep(0.1)  # let the server see the writer leave and reopen
    write(b"join 1")  # no newline: the last line before EOF still counts
    server.players_become(3)


def _open_writer(path: Path) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def test_settings_json_overrides_the_environment_and_sets_map_and_motd(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    settings = {"name": "From file", "max_players": 4, "map": "island", "motd": "Hi\nBe nice"}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    server = start(SERVER_NAME="From env", MAX_PLAYERS="16")
    reply = query(server.port)
    assert reply is not None
    assert (reply["name"], reply["max_players"], reply["map"]) == ("From file", 4, "island")
    server.send("join 2")
    server.players_become(2)
    server.send("stop")
    _, err = server.finish()
    assert "motd: Hi" in err and "motd: Be nice" in err  # shown when players join


def test_an_empty_setting_leaves_the_environment_value(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"name": "", "max_players": None}))
    reply = query(start(SERVER_NAME="From env", MAX_PLAYERS="6").port)
    assert reply is not None and (reply["name"], reply["max_players"]) == ("From env", 6)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_broken_settings_file_refuses_to_start(
    spawn: Spawn, tmp_path: Path, content: str
) -> None:
    (tmp_path / "settings.json").write_text(content)
    proc = spawn(SERVER_PORT=str(free_port()))
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 2 and "settings.json" in err.decode()


def test_say_shows_the_message_in_the_servers_log(start: Callable[..., Running]) -> None:
    server = start()
    server.send("say Restart in 5 minutes")
    server.send("stop")
    _, err = server.finish()
    assert "say: Restart in 5 minutes" in err
