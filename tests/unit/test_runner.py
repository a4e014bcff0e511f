"""The runner (`python3 -m warlockd.runner`), run for real as a subprocess around the example
game server, with a notify socket of our own standing in for systemd."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from warlockd.netstat import socket_inodes
from warlockd.query import QueryResult, warlock_status
from warlockd.runner import main, parse
from warlockd.runner_probe import bound_ports

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = [sys.executable, "bundled/example/server.py"]
T = TypeVar("T")

# A game deaf to its stop command and to SIGTERM/SIGINT, with a child of its own (in its
# process group) just as deaf. It binds tcp:SERVER_PORT and writes "<pid> <child pid>".
STUBBORN_GAME = """
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
tcp = socket.create_server(("0.0.0.0", int(os.environ["SERVER_PORT"])))
child = os.fork()
if child == 0:
    while True:
        time.sleep(0.1)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(0.1)
"""

SLOW_BINDER = """
import os, socket, time
port = int(os.environ["SERVER_PORT"])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", port))
time.sleep(0.5)
tcp = socket.create_server(("0.0.0.0", port))
time.sleep(30)
"""


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


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what or check}")


def alive(pid: int) -> bool:
    """Running (a zombie is dead: it only waits for whoever reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def children(pid: int) -> set[int]:
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found |= {int(c) for c in f.read().split()}
    return found


class Notes:
    """The datagrams the runner sends to NOTIFY_SOCKET, each as its list of lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seen: list[list[str]] = []

    def recv(self, timeout: float) -> list[str] | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        lines = data.decode().split("\n")
        self.seen.append(lines)
        return lines

    def wait_for(self, line: str, timeout: float = 5.0) -> list[str]:
        """The first datagram (from now on) holding `line`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.recv(left)
            if got is not None and line in got:
                return got
        pytest.fail(f"no {line} within {timeout}s; got {self.seen}")

    def drain(self, seconds: float = 0.0) -> list[list[str]]:
        """Every datagram arriving within `seconds` (or already queued)."""
        got, deadline = [], time.monotonic() + seconds
        while (lines := self.recv(deadline - time.monotonic())) is not None:
            got.append(lines)
        return got

    def any(self, line: str) -> bool:
        return any(line in d for d in self.seen)


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    port: int
    fifo: Path
    save_dir: Path
    log: Path
    notes: Notes
    started: float
    games: set[int] = field(default_factory=set)

    def game(self) -> int:
        """The game's pid (it leads its own process group)."""
        pid = wait_for(lambda: children(self.proc.pid), what="the game to start").pop()
        self.games.add(pid)
        return pid

    def console(self, *chunks: str) -> None:
        """One writer: open the FIFO, write, close. Never blocks (ENXIO if nobody reads)."""
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            for chunk in chunks:
                os.write(fd, chunk.encode())
                time.sleep(0.05)
        finally:
            os.close(fd)

    def query(self, timeout: float = 0.5) -> QueryResult | None:
        return warlock_status("127.0.0.1", self.port, timeout)

    def players_become(self, n: int) -> None:
        wait_for(lambda: (q := self.query()) is not None and q.player_count == n, what=f"{n}")

    def wait(self, timeout: float = 10.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runner still running after {timeout}s:\n{self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text()


class Start(Protocol):
    def __call__(
        self,
        options: list[str] | None = None,
        game: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> Run: ...


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # Short path: AF_UNIX addresses are limited to 108 bytes, pytest's tmp_path can be longer.
    with (
        tempfile.TemporaryDirectory(prefix="runner-") as d,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s,
    ):
        path = os.path.join(d, "notify")
        s.bind(path)
        yield s, path


@pytest.fixture
def start(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> Iterator[Start]:
    runs: list[Run] = []
    sock, address = notify_socket
    drop = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CONSOLE_FIFO")
    base = {k: v for k, v in os.environ.items() if k not in drop}

    def run(
        options: list[str] | None = None,
        game: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> Run:
        port = port or free_port()
        fifo, save_dir, log = tmp_path / "console", tmp_path / "save", tmp_path / "runner.log"
        save_dir.mkdir(exist_ok=True)
        if options is None:
            options = ["--console", str(fifo), "--probe", f"warlock-status:{port}",
                       "--stop-command", "stop", "--stop-timeout", "5",
                       "--start-timeout", "10"]  # fmt: skip
        full = base | {"SERVER_PORT": str(port), "SERVER_ID": "test", "SAVE_DIR": str(save_dir)}
        full |= {"NOTIFY_SOCKET": address, **(env or {})}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "warlockd.runner", *options, "--", *(game or EXAMPLE)],
                cwd=REPO,
                env=full,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        r = Run(proc, port, fifo, save_dir, log, Notes(sock), time.monotonic())
        runs.append(r)
        return r

    yield run
    for r in runs:
        if r.proc.poll() is None:
            r.games |= children(r.proc.pid)
            r.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            r.proc.wait(timeout=5)
        for pid in r.games:  # each game leads its own process group, maybe outliving it
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


# --- readiness ----------------------------------------------------------------------------


def test_ready_comes_only_once_the_game_answers_its_query_with_its_status(start: Start) -> None:
    # The game starts half a second late: every probe before then finds nothing.
    delayed = ["sh", "-c", f"sleep 0.5; exec {shlex.join(EXAMPLE)}"]
    r = start(game=delayed)
    ready = r.notes.wait_for("READY=1")
    answer = r.query()
    assert answer is not None, "READY=1 before the game answers"
    assert (answer.player_count, answer.max_players) == (0, 16)
    assert time.monotonic() - r.started >= 0.5
    assert "STATUS=players 0/16" in ready
    assert r.proc.poll() is None


def test_ready_with_ports_and_no_probe_comes_once_every_port_is_bound(start: Start) -> None:
    port = free_port()
    slow_game = [sys.executable, "-c", SLOW_BINDER]  # udp at once, tcp 0.5 s later
    r = start(["--ports", f"udp:{port},tcp:{port}", "--stop-timeout", "5"], slow_game, port=port)
    ready = r.notes.wait_for("READY=1")
    assert time.monotonic() - r.started >= 0.5, "READY=1 with only the udp port bound"
    assert "STATUS=listening" in ready
    assert {("udp", port), ("tcp", port)} <= bound_ports(socket_inodes(r.game()))


def test_without_probe_or_ports_the_game_is_ready_once_started(start: Start) -> None:
    r = start(["--stop-timeout", "5"])
    assert "STATUS=listening" in r.notes.wait_for("READY=1")
    assert r.proc.poll() is None


def test_a_foreign_server_answering_on_the_port_does_not_make_the_game_ready(
    start: Start,
) -> None:
    port = free_port()
    queried = 0
    done = threading.Event()
    reply = b"\xffSTATUS\n" + json.dumps({"players": 0, "max_players": 16}).encode()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as foreign:
        foreign.bind(("0.0.0.0", port))
        foreign.settimeout(0.05)

        def answer() -> None:
            nonlocal queried
            while not done.is_set():
                try:
                    data, addr = foreign.recvfrom(2048)
                except TimeoutError:
                    continue
                if data == b"\xffSTATUS":
                    queried += 1
                    foreign.sendto(reply, addr)

        responder = threading.Thread(target=answer, daemon=True)
        responder.start()
        try:
            assert warlock_status("127.0.0.1", port) is not None  # it does look like the game
            queried = 0
            r = start(port=port)
            code = r.wait()  # the example server cannot bind the taken port: exit 4
            r.notes.drain(0.1)
        finally:
            done.set()
            responder.join(timeout=5)
    assert code == 4, r.output()
    assert queried >= 1, "the runner never probed the port"
    assert not r.notes.any("READY=1"), r.notes.seen


def test_a_game_that_exits_at_once_makes_the_runner_exit_with_its_code_without_ready(
    start: Start,
) -> None:
    r = start(env={"SERVER_PORT": "notaport"})
    assert r.wait() == 2, r.output()
    r.notes.drain(0.1)
    assert not r.notes.any("READY=1"), r.notes.seen
    assert "before it was ready" in r.output()


# --- watchdog and console -----------------------------------------------------------------


def test_watchdog_is_fed_while_probes_pass_and_starves_once_the_game_freezes(
    start: Start,
) -> None:
    r = start(env={"WATCHDOG_USEC": "600000"})
    ready = r.notes.wait_for("READY=1")
    assert "WATCHDOG=1" in ready
    beats = [d for d in r.notes.drain(1.0) if "WATCHDOG=1" in d]
    assert len(beats) >= 2, r.notes.seen  # probes every 0.2 s: well within 0.6 s each
    r.game()
    r.console("freeze\n")
    wait_for(lambda: r.query(0.2) is None, what="the game to freeze")
    r.notes.drain()  # a probe answered just before the freeze may have fed it once more
    quiet = r.notes.drain(1.6)
    assert not [d for d in quiet if "WATCHDOG=1" in d], quiet
    assert r.proc.poll() is None, r.output()


def test_console_lines_reach_the_game_from_one_writer_after_another(start: Start) -> None:
    r = start()
    r.notes.wait_for("READY=1")
    r.console("join 3\n")
    r.players_become(3)
    # The first writer has closed, yet the FIFO still has one (the runner's own): a reader
    # gets no EOF, so the runner neither spins on it nor misses the next writer.
    assert fifo_has_a_writer(r.fifo)
    r.console("leave 1\n")
    r.players_become(2)
    r.console("jo", "in 5\n")  # one line in two writes
    r.players_become(7)
    assert r.proc.poll() is None


def fifo_has_a_writer(path: Path) -> bool:
    """Call only while nothing waits in the FIFO: a byte read here is lost to the runner."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, 1) != b""  # b"": end of file, nobody has it open for writing
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# --- stopping -----------------------------------------------------------------------------


def test_sigterm_notifies_stopping_sends_the_stop_command_and_exits_0(start: Start) -> None:
    r = start()
    r.notes.wait_for("READY=1")
    wait_for(lambda: (q := r.query()) is not None and q.player_count == 0 and tick(r) > 0)
    r.proc.send_signal(signal.SIGTERM)
    assert r.wait() == 0, r.output()
    stopping = r.notes.wait_for("STOPPING=1", timeout=1)
    assert "STATUS=stopping" in stopping
    assert json.loads((r.save_dir / "world.json").read_text())["tick"] > 0
    assert "sending 'stop'" in r.output() and "command: stop" in r.output()


def tick(r: Run) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(b"\xffSTATUS", ("127.0.0.1", r.port))
        try:
            data = s.recv(4096)
        except OSError:
            return 0
    value: int = json.loads(data.partition(b"\n")[2])["tick"]
    return value


def test_a_stop_signal_without_stop_command_reaches_the_game_and_exits_0(
    start: Start, tmp_path: Path
) -> None:
    port = free_port()
    options = ["--console", str(tmp_path / "console"), "--probe", f"warlock-status:{port}",
               "--stop-signal", "SIGINT", "--stop-timeout", "5"]  # fmt: skip
    r = start(options, port=port)
    r.notes.wait_for("READY=1")
    r.proc.send_signal(signal.SIGTERM)
    assert r.wait() == 0, r.output()
    assert "sending SIGINT" in r.output() and "sending 'stop'" not in r.output()
    assert "[test] stopping (SIGINT)" in r.output()  # the game's own log, on our stderr
    assert (r.save_dir / "world.json").exists()


def test_a_game_deaf_to_stop_is_killed_after_the_stop_timeout_with_its_group(
    start: Start, tmp_path: Path
) -> None:
    port, pids = free_port(), tmp_path / "pids"
    options = ["--console", str(tmp_path / "console"), "--ports", f"tcp:{port}",
               "--stop-command", "stop", "--stop-timeout", "4"]  # fmt: skip
    r = start(options, game=[sys.executable, "-c", STUBBORN_GAME, str(pids)], port=port)
    r.notes.wait_for("READY=1")
    wait_for(pids.exists, what="the game's pids")
    game, child = (int(p) for p in pids.read_text().split())
    r.games.add(game)
    began = time.monotonic()
    r.proc.send_signal(signal.SIGTERM)
    code = r.wait()
    took = time.monotonic() - began
    assert code != 0, r.output()
    assert 0.7 * 4 <= took <= 4 + 1.5, r.output()
    assert "killing it" in r.output()
    wait_for(lambda: not alive(game) and not alive(child), timeout=2, what="the game to die")


def test_a_crashing_game_makes_the_runner_exit_with_the_crash_code(start: Start) -> None:
    r = start()
    r.notes.wait_for("READY=1")
    r.console("crash\n")
    assert r.wait() == 3, r.output()
    assert not r.notes.any("STOPPING=1")


def test_a_command_that_cannot_start_makes_the_runner_exit_127(start: Start) -> None:
    r = start(game=["/nonexistent/game-server"])
    assert r.wait() == 127, r.output()
    assert "cannot start /nonexistent/game-server" in r.output()
    assert not r.notes.drain(0.1)


# --- pieces, in process -------------------------------------------------------------------


def test_parse_reads_every_option_and_the_command() -> None:
    opts = parse(["--probe", "a2s:27015", "--ports", "tcp:1,udp:2", "--console", "/c",
                  "--stop-command", "quit", "--stop-signal", "SIGINT", "--stop-timeout", "7",
                  "--start-timeout", "9.5", "--", "game", "--flag", "--"])  # fmt: skip
    assert opts.probe == ("a2s", 27015)
    assert opts.ports == (("tcp", 1), ("udp", 2))
    assert (opts.console, opts.stop_command) == ("/c", "quit")
    assert opts.stop_signal == signal.SIGINT
    assert (opts.stop_timeout, opts.start_timeout) == (7.0, 9.5)
    assert opts.command == ["game", "--flag", "--"]


@pytest.mark.parametrize("name", ["SIGINT", "INT"])
def test_parse_takes_signal_names_with_or_without_the_sig_prefix(name: str) -> None:
    assert parse(["--stop-signal", name, "--", "game"]).stop_signal == signal.SIGINT


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["game"], "no command"),
        (["--probe", "a2s:1", "--"], "no command"),
        (["--frobnicate", "1", "--", "game"], "unknown option --frobnicate"),
        (["--console", "/c", "--probe", "--", "game"], "--probe needs a value"),
    ],
)
def test_parse_refuses_bad_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(argv)


def test_an_unknown_signal_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError):
        parse(["--stop-signal", "SIGNOPE", "--", "game"])
    assert main(["--stop-signal", "NOPE", "--", "game"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_bound_ports_finds_a_listening_tcp_port_and_a_bound_udp_port() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as idle,
    ):
        udp.bind(("127.0.0.1", 0))
        idle.bind(("127.0.0.1", 0))  # bound but not listening: no server there
        found = bound_ports()
        assert ("tcp", tcp.getsockname()[1]) in found
        assert ("udp", udp.getsockname()[1]) in found
        assert ("tcp", idle.getsockname()[1]) not in found
        mine = bound_ports(socket_inodes(os.getpid()))
        assert {("tcp", tcp.getsockname()[1]), ("udp", udp.getsockname()[1])} <= mine
        assert bound_ports(inodes=set()) == set()


def test_socket_inodes_holds_the_inode_of_a_socket_we_opened() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert os.fstat(s.fileno()).st_ino in socket_inodes(os.getpid())


def test_the_runner_imports_none_of_the_heavy_modules() -> None:
    heavy = "{'jinja2','typer','psutil','toml','pystemd','click','json','subprocess','argparse'}"
    code = f"import sys, warlockd.runner; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"  # noqa: E501
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
