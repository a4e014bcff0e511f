"""The runner: main process of every game@<id>.service (`python3 -m warlockd.runner`).

It starts the game as its child and speaks sd_notify for it: READY=1 only once the game
answers its probe (its query protocol, else its ports are bound), EXTEND_TIMEOUT_USEC
while a slow game is visibly loading, WATCHDOG=1 only while probes pass (so systemd
itself restarts a frozen server). Lines written to the console FIFO go to the game's
stdin. On SIGTERM it runs the app's graceful stop: console command, wait, signal, wait.

It runs once per instance for the instance's whole life, so it imports little: stdlib
only, and a query protocol module only if the app has one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable

from . import netstat
from .runner_output import GameOutput
from .runner_probe import bound_ports, make_probe

USAGE = (
    "usage: python3 -m warlockd.runner [--probe PROTO:PORT] [--ports tcp:N,udp:M] "
    "[--console PATH] [--stop-command CMD] [--stop-signal SIG] [--stop-timeout S] "
    "[--start-timeout S] [--file PATH=VAR] [--file-keep PATH=VAR] [--link PATH=TARGET] "
    "[--link-pattern REGEX] -- COMMAND [ARG...]"
)


def log(message: str) -> None:
    # journald adds the time and the unit; SyslogIdentifier tells us apart from the game
    sys.stderr.write(f"warlock-runner: {message}\n")
    sys.stderr.flush()


def notify(*lines: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.sendto("\n".join(lines).encode(), address)
        except OSError as e:
            log(f"sd_notify failed: {e}")


class Options:
    """What the unit's ExecStart tells the runner (a plain class: dataclasses would pull
    inspect and friends into a process that lives as long as the game)."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.probe: tuple[str, int] | None = None  # (protocol, port)
        self.ports: tuple[tuple[str, int], ...] = ()  # (tcp|udp, port) that must be bound
        self.console: str | None = None
        self.stop_command: str | None = None
        self.stop_rcon: tuple[str, int] | None = None  # the stop command over rcon
        self.stop_signal: int = signal.SIGTERM
        self.stop_timeout = 30.0
        self.start_timeout = 90.0
        self.files: list[tuple[str, str]] = []  # (--file|--file-keep|--link, PATH=...)
        self.link_pattern: str | None = None  # the game's output is searched for its join link


def parse(argv: list[str]) -> Options:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        raise ValueError("no command after --")
    split = argv.index("--")
    opts = Options(command=argv[split + 1 :])
    flags = argv[:split]
    if len(flags) % 2:
        raise ValueError(f"option {flags[-1]} needs a value")
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag == "--probe":
            proto, _, port = value.partition(":")
            opts.probe = (proto, int(port))
        elif flag == "--ports":
            opts.ports = tuple(
                (p.split(":")[0], int(p.split(":")[1])) for p in value.split(",") if p
            )
        elif flag == "--console":
            opts.console = value
        elif flag == "--stop-command":
            opts.stop_command = value
        elif flag == "--stop-rcon":
            proto, _, port = value.partition(":")
            opts.stop_rcon = (proto, int(port))
        elif flag == "--stop-signal":
            opts.stop_signal = signal.Signals[value if value.startswith("SIG") else "SIG" + value]
        elif flag == "--stop-timeout":
            opts.stop_timeout = float(value)
        elif flag == "--start-timeout":
            opts.start_timeout = float(value)
        elif flag in ("--file", "--file-keep", "--link"):
            opts.files.append((flag, value))  # checked by runner_files, imported only then
        elif flag == "--link-pattern":
            opts.link_pattern = value
        else:
            raise ValueError(f"unknown option {flag}")
    return opts


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


class Runner:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.probe: Callable[[], str | None] = lambda: None  # made once the game is spawned
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.ready = False
        watchdog = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.watchdog = watchdog / 1e6 if watchdog else 0.0
        self.status = ""
        self.output: GameOutput | None = None  # its stdout and stderr, searched for a link
        self.link: str | None = None  # the join link the game announced (links.py)

    def spawn(self) -> None:
        read_end, self.stdin = os.pipe()
        os.set_blocking(self.stdin, False)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
               "WATCHDOG_PID") and not k.startswith("WARLOCK_FILE_")}  # fmt: skip
        try:
            actions = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_CLOSE, self.stdin)]
            if self.opts.link_pattern:  # its output through us: we copy it on to the journal
                self.output = GameOutput(self.opts.link_pattern, self.on_link, self.selector)
                actions += self.output.actions
            # its own session: the stop escalation kills the game's whole process group
            self.pid = os.posix_spawnp(
                self.opts.command[0], self.opts.command, env, file_actions=actions, setsid=True
            )
        except OSError as e:
            log(f"cannot start {self.opts.command[0]}: {e.strerror}")
            raise SystemExit(127) from None
        os.close(read_end)
        if self.output:
            self.output.started()
        log(f"started {self.opts.command[0]} as pid {self.pid}")

    def on_link(self, link: str | None) -> None:
        self.link = link  # None as the game starts: not the last run's, which systemd may show
        notify(f"STATUS={self.status_text() or 'starting'}")

    def open_console(self) -> None:
        path = self.opts.console
        if not path:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.mkfifo(path, 0o600)
        self.console = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Our own writer keeps the FIFO open, so a client closing never gives us EOF.
        self._keepalive = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self.console, selectors.EVENT_READ, self.forward_console)
        self.pending = b""

    def forward_console(self) -> None:
        data = os.read(self.console, 4096)
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            if line.strip():
                self.send(line.decode(errors="replace"))

    def send(self, line: str) -> None:
        log(f"console: {line}")
        try:
            os.write(self.stdin, line.encode() + b"\n")
        except BlockingIOError:
            log("console: the game is not reading its input; line dropped")
        except BrokenPipeError:
            log("console: the game closed its input; line dropped")

    def send_rcon(self, command: str) -> None:
        """Games without a console on stdin (Rust, ARK) save and quit over their rcon."""
        assert self.opts.stop_rcon is not None
        protocol, port = self.opts.stop_rcon
        password = os.environ.get("WARLOCK_RCON_PASSWORD", "")
        try:
            if protocol == "quake3":
                from .protocols.quake3 import rcon

                rcon("127.0.0.1", port, password, command)
            elif protocol == "teeworlds-econ":
                from .protocols.teeworlds_econ import rcon as econ

                econ("127.0.0.1", port, password, command)
            else:
                from .protocols.source_rcon import SourceRcon

                with SourceRcon("127.0.0.1", port, password) as client:
                    client.command(command)
        except (OSError, ValueError) as e:  # RconError is an OSError: fall back to the signal
            log(f"stopping: rcon failed ({e}); the signal follows")

    def on_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True

    def reap(self, block: bool = False) -> int | None:
        """The game's exit status as a runner exit code, or None while it runs."""
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return 1
        if pid == 0:
            return None
        if self.output:  # what it printed last, before we say that it exited
            self.output.drain(exited=True)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output:  # a game printing as it stops must not block on a full pipe
                self.output.drain()
            code = self.reap()
            if code is not None:
                return code
            time.sleep(0.1)
        return None

    def graceful_stop(self) -> int:
        notify("STOPPING=1", "STATUS=stopping")
        left = self.opts.stop_timeout
        if self.opts.stop_command:
            log(f"stopping: sending {self.opts.stop_command!r}")
            if self.opts.stop_rcon:
                self.send_rcon(self.opts.stop_command)
            else:
                self.send(self.opts.stop_command)
            waited = time.monotonic()
            code = self.wait_exit(left * 0.7)
            if code is not None:
                return self.clean(code)
            left -= time.monotonic() - waited
        log(f"stopping: sending {signal.Signals(self.opts.stop_signal).name}")
        with_signal = self.opts.stop_signal
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, with_signal)
        code = self.wait_exit(max(left - 1, 1))
        if code is not None:
            return self.clean(code, with_signal)
        log("stopping: the game did not exit in time; killing it")
        os.killpg(self.pid, signal.SIGKILL)
        return self.reap(block=True) or 1

    def clean(self, code: int, sent: int | None = None) -> int:
        """A game that exits on our stop signal stopped cleanly."""
        if sent is not None and code == 128 + sent:
            code = 0
        log(f"the game exited with status {code}")
        return code

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        self.selector.register(wake_r, selectors.EVENT_READ, lambda: os.read(wake_r, 512))
        self.open_console()
        if self.opts.files:  # few games have [[files]]: only their runners import the module
            from .runner_files import put, remove

            if not put(self.opts.files, log):
                return 1
            try:
                self.spawn()
                return self.loop()
            finally:
                remove(self.opts.files)
        self.spawn()
        return self.loop()

    def loop(self) -> int:
        started = time.monotonic()
        self.probe = make_probe(opts=self.opts)  # its imports overlap the game's start-up
        next_probe, attempt = started, 0
        extended_at, ticks = started, cpu_ticks(self.pid)
        while True:
            if self.stopping:
                return self.graceful_stop()
            code = self.reap()
            if code is not None:
                log(
                    f"the game exited with status {code}"
                    + ("" if self.ready else " before it was ready")
                )
                return code
            now = time.monotonic()
            if now >= next_probe:
                self.tick_probe(now - started)
                attempt += 1
                # every 10 ms for the first second (a game is often up in a tenth of one,
                # and `start` waits for READY), then backing off to every 2 s while it
                # loads; calm once ready
                interval = (
                    self.probe_interval() if self.ready
                    else 0.01 if attempt < 100 else min(0.01 * 2 ** (attempt - 100), 2.0)
                )  # fmt: skip
                next_probe = time.monotonic() + interval
            # a game visibly loading (its CPU time grows) gets start_timeout more, asked
            # for often enough to beat a short timeout
            if not self.ready and now - extended_at >= min(10.0, self.opts.start_timeout / 2):
                now_ticks = cpu_ticks(self.pid)
                if now_ticks > ticks and now - started < self.opts.start_timeout * 10:
                    notify(f"EXTEND_TIMEOUT_USEC={int(self.opts.start_timeout * 1e6)}",
                           "STATUS=loading")  # fmt: skip
                extended_at, ticks = now, now_ticks
            for key, _ in self.selector.select(timeout=max(0.01, min(next_probe - now, 0.5))):
                key.data()

    def owns_ports(self) -> bool:
        """Before READY: the ports that answered are bound by the game itself."""
        wanted = {p for p in self.opts.ports} or (
            {("udp", self.opts.probe[1]), ("tcp", self.opts.probe[1])} if self.opts.probe else set()
        )
        if not wanted:
            return True  # no port to own: nothing else can answer for the game
        mine = bound_ports(netstat.socket_inodes(self.pid))
        if self.opts.ports:
            return wanted <= mine
        return bool(wanted & mine)

    def status_text(self) -> str:
        if self.link is None:
            return self.status
        from .links import compose  # only for a game with a [link] pattern

        return compose(self.status or "starting", self.link)

    def probe_interval(self) -> float:
        return self.watchdog / 3 if self.watchdog else 5.0

    def tick_probe(self, elapsed: float) -> None:
        try:
            status = self.probe()
        except Exception as e:  # a probe bug must not kill the server it watches
            log(f"probe error: {e}")
            status = None
        if status is None:
            if self.ready:
                log("probe failed: not feeding the watchdog")
            return
        if not self.ready and not self.owns_ports():
            return  # something else answers on our port: not our game (yet)
        lines = []
        if not self.ready:
            self.ready = True
            log(f"ready after {elapsed:.1f} s ({status})")
            lines.append("READY=1")
            if self.opts.files:  # read by now: games bind their ports after their config
                from .runner_files import remove

                remove(self.opts.files)
        if status != self.status:
            self.status = status
            lines.append(f"STATUS={self.status_text()}")
        if self.watchdog:
            lines.append("WATCHDOG=1")
        if lines:
            notify(*lines)


def main(argv: list[str] | None = None) -> int:
    try:
        opts = parse(sys.argv[1:] if argv is None else argv)
    except (ValueError, KeyError, IndexError) as e:
        log(f"{e}\n{USAGE}")
        return 2
    try:
        return Runner(opts).run()
    except OSError as e:
        if e.errno == errno.EACCES:
            log(f"permission denied: {e.filename}")
        else:
            log(f"error: {e}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
