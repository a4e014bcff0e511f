#!/usr/bin/python3
"""Headless example game server: warlockd's demo app and crash/freeze test subject.

Standard library only: it runs under Debian's /usr/bin/python3 as the instance's user.

Query protocol, on the same port number over UDP and TCP (0.0.0.0:SERVER_PORT):
  UDP: b"\\xffSTATUS" -> b"\\xffSTATUS\\n" + compact UTF-8 JSON object with keys
       id, name, players, max_players, tick, uptime, map. Other datagrams are ignored.
  TCP: on connect the server sends that JSON plus b"\\n" and closes.
Console (stdin and the optional CONSOLE_FIFO, one command a line):
  join N | leave N | status | say TEXT | save | stop | quit | crash | freeze
Environment: SERVER_PORT, SERVER_ID, SERVER_NAME, MAX_PLAYERS, TICK_RATE, SAVE_DIR,
CONSOLE_FIFO, and LOAD_SECONDS (time spent "loading the world" before the port answers).
Exit codes: 0 graceful stop, 1 final save failed, 2 bad config or unreadable
world.json, 3 `crash`, 4 port cannot be bound (e.g. already in use).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import stat
import sys
import time
from collections.abc import Mapping
from types import FrameType

QUERY = b"\xffSTATUS"
MAX_LINE = 4096
_prefix = "[default] "


def log(msg: str) -> None:
    # No timestamps: journald adds them. Flush per line so a crash loses nothing.
    if sys.stderr is not None:
        sys.stderr.write(f"{_prefix}{msg}\n")
        sys.stderr.flush()


def sd_notify(msg: str) -> None:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace
    # The manager going away must never take the game down with it.
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(msg.encode(), addr)


class ConfigError(Exception):
    pass


class Config:
    # A plain class and str paths, not dataclasses/NamedTuple and pathlib: their imports
    # would add about half again to the start-up time that every game start pays.
    def __init__(
        self,
        port: int,
        server_id: str,
        name: str,
        max_players: int,
        tick_rate: float,
        save_dir: str,
        console_fifo: str | None,
        motd: str = "",
        map_name: str = "example",
    ) -> None:
        self.port = port
        self.server_id = server_id
        self.name = name
        self.max_players = max_players
        self.tick_rate = tick_rate
        self.save_dir = save_dir
        self.console_fifo = console_fifo
        self.motd = motd
        self.map_name = map_name


def _num(env: Mapping[str, str], key: str, dflt: float, lo: float, hi: float, conv: type) -> float:
    raw = env.get(key, "").strip()
    try:
        value = float(conv(raw)) if raw else dflt
    except ValueError:
        raise ConfigError(f"{key} is not a valid number: {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be between {lo:g} and {hi:g}, got {raw}")
    return value


def load_settings(save_dir: str) -> dict[str, object]:
    """settings.json beside world.json, as `manage.py --set-config` writes it; {} if absent."""
    path = os.path.join(save_dir, "settings.json")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"cannot load {path}: not a JSON object")
    return data


def parse_config(env: Mapping[str, str]) -> Config:
    if not env.get("SERVER_PORT", "").strip():
        raise ConfigError("SERVER_PORT is required")
    save_dir = env.get("SAVE_DIR") or os.getcwd()
    if not os.path.isabs(save_dir):
        # Not abspath(): it folds "x/.." lexically, which a symlinked x makes wrong.
        save_dir = os.path.join(os.getcwd(), save_dir)
    if not os.path.isdir(save_dir):
        raise ConfigError(f"SAVE_DIR is not a directory: {save_dir}")
    settings = load_settings(save_dir)
    env = dict(env)  # the file wins: it holds what the admin set, the environment the defaults
    for key, var in (("name", "SERVER_NAME"), ("max_players", "MAX_PLAYERS"),
                     ("tick_rate", "TICK_RATE")):  # fmt: skip
        if settings.get(key) not in (None, ""):
            env[var] = str(settings[key])
    return Config(
        port=int(_num(env, "SERVER_PORT", 0, 1, 65535, int)),
        server_id=env.get("SERVER_ID") or "default",
        name=env.get("SERVER_NAME") or "Example server",
        max_players=int(_num(env, "MAX_PLAYERS", 16, 1, 100_000, int)),
        tick_rate=_num(env, "TICK_RATE", 10, 0.1, 1000, float),
        save_dir=save_dir,
        console_fifo=env.get("CONSOLE_FIFO") or None,
        motd=str(settings.get("motd") or ""),
        map_name=str(settings.get("map") or "example"),
    )


def load_tick(save_dir: str) -> int:
    path = os.path.join(save_dir, "world.json")
    try:
        with open(path, "rb") as f:
            tick = json.loads(f.read())["tick"]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        # Refuse to start rather than overwrite, at the next stop, a save we could not read.
        raise ConfigError(f"cannot load {path}: {e}") from None
    if not isinstance(tick, int) or tick < 0:
        raise ConfigError(f"cannot load {path}: bad tick {tick!r}")
    return tick


def bind(port: int) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("0.0.0.0", port))
        # create_server sets SO_REUSEADDR: a restart rebinds despite TIME_WAIT, yet Linux
        # still refuses a port that another socket listens on.
        tcp = socket.create_server(("0.0.0.0", port), backlog=16)
    except OSError:
        udp.close()
        raise
    udp.setblocking(False)
    tcp.setblocking(False)
    return udp, tcp


class Server:
    def __init__(self, cfg: Config, tick: int, udp: socket.socket, tcp: socket.socket) -> None:
        self.cfg, self.tick, self.udp, self.tcp = cfg, tick, udp, tcp
        self.players = 0
        self.started = time.monotonic()
        self.stop_reason = ""
        self.bufs: dict[int, bytes] = {}
        # poll, not epoll: epoll refuses regular files and /dev/null, common stdins.
        self.sel = selectors.PollSelector()
        self.sel.register(udp, selectors.EVENT_READ, self._on_udp)
        self.sel.register(tcp, selectors.EVENT_READ, self._on_tcp)
        # A wakeup fd lets a signal end select() at once rather than at the next tick.
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        self.sel.register(self.wake_r, selectors.EVENT_READ, lambda: self.wake_r.recv(4096))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = signal.Signals(signum).name

    def status(self) -> bytes:
        info = {
            "id": self.cfg.server_id,
            "name": self.cfg.name,
            "players": self.players,
            "max_players": self.cfg.max_players,
            "tick": self.tick,
            "uptime": round(time.monotonic() - self.started, 1),
            "map": self.cfg.map_name,
        }
        return json.dumps(info, separators=(",", ":")).encode()

    def _on_udp(self) -> None:
        for _ in range(64):  # bounded, so a query flood cannot starve the tick
            try:
                data, addr = self.udp.recvfrom(2048)
            except OSError:  # drained, or a stray ICMP error
                return
            if data.rstrip(b"\r\n") == QUERY:
                with contextlib.suppress(OSError):
                    self.udp.sendto(QUERY + b"\n" + self.status(), addr)

    def _on_tcp(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.tcp.accept()
            with conn, contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(self.status() + b"\n")  # a fresh socket's send buffer takes it whole
                conn.shutdown(socket.SHUT_WR)
                conn.recv(4096)  # unread input would make close() send RST and drop the reply

    def watch_console(self, fd: int, fifo: bool) -> None:
        self.sel.register(fd, selectors.EVENT_READ, lambda: self._on_console(fd, fifo))

    def open_fifo(self, path: str) -> None:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkfifo(path, 0o600)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.close(fd)  # a regular file would hit EOF, reopen and spin forever
                raise OSError(f"{path} is not a FIFO")
        except OSError as e:
            log(f"console fifo unavailable: {e}")
            return
        self.watch_console(fd, fifo=True)

    def _on_console(self, fd: int, fifo: bool) -> None:
        try:
            chunk = os.read(fd, MAX_LINE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        *lines, rest = (self.bufs.pop(fd, b"") + chunk).split(b"\n")
        if chunk:
            self.bufs[fd] = rest[-MAX_LINE:]
        else:
            lines.append(rest)  # an unterminated last line is still a command
            self.sel.unregister(fd)
            # stdin stays open but unwatched, so fd 0 is never reused. A FIFO whose last
            # writer left reports POLLHUP until reopened, and a new writer may come.
            if fifo and self.cfg.console_fifo is not None:
                os.close(fd)
                self.open_fifo(self.cfg.console_fifo)
        for line in lines:
            self.command(line.decode("utf-8", "replace").strip())

    def set_players(self, n: int) -> None:
        n = max(0, min(n, self.cfg.max_players))
        if n != self.players:
            log(f"players {self.players} -> {n}/{self.cfg.max_players}")
            for line in self.cfg.motd.splitlines() if n > self.players else ():
                log(f"motd: {line}")  # one journal line each
            self.players = n
            sd_notify(f"STATUS=players {n}/{self.cfg.max_players}")

    def save(self) -> bool:
        path = os.path.join(self.cfg.save_dir, "world.json")
        tmp = os.path.join(self.cfg.save_dir, f".world.json.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(json.dumps({"tick": self.tick, "saved_at": int(time.time())}).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(self.cfg.save_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)  # makes the rename itself survive a power cut
            finally:
                os.close(dfd)
        except OSError as e:
            log(f"save failed: {e}")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            return False
        log(f"saved world at tick {self.tick} to {path}")
        return True

    def freeze(self) -> None:
        # A hung process: no ticks, queries or watchdog pings, and deaf to SIGTERM/SIGINT,
        # so the supervisor has to escalate (watchdog abort, SIGKILL).
        log("freezing: ignoring SIGTERM/SIGINT from now on")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            time.sleep(3600)

    def command(self, line: str) -> None:
        if not line:
            return
        log(f"command: {line}")
        verb, _, arg = line.partition(" ")
        match verb.lower():
            case "join" | "leave" as verb:
                try:
                    n = int(arg) if arg.strip() else 1
                except ValueError:
                    n = -1
                if n < 0:
                    log(f"bad player count: {arg!r}")
                else:
                    self.set_players(self.players + (n if verb == "join" else -n))
            case "crash":
                log("crashing on request (exit 3, nothing saved)")
                os._exit(3)
            case "freeze":
                self.freeze()
            case "status":
                log(f"status {self.status().decode()}")
            case "say":
                log(f"say: {arg}")  # what every player would read
            case "save":
                self.save()
            case "stop" | "quit":
                self.stop_reason = verb
            case _:
                log(f"unknown command: {line}")

    def run(self) -> int:
        c, period = self.cfg, 1.0 / self.cfg.tick_rate
        wd_usec, wd_pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID")
        wd = int(wd_usec) / 4e6 if wd_usec.isdigit() and wd_pid in (None, str(os.getpid())) else 0
        log(
            f"started {c.name!r} on udp+tcp port {c.port}, max players {c.max_players}, "
            f"{c.tick_rate:g} Hz, tick {self.tick}, save dir {c.save_dir}"
        )
        sd_notify(f"READY=1\nSTATUS=players 0/{c.max_players}")  # sockets are bound by now
        next_wd = time.monotonic()
        next_tick = next_wd + period
        while not self.stop_reason:
            now = time.monotonic()
            if wd and now >= next_wd:
                sd_notify("WATCHDOG=1")
                next_wd = now + wd
            deadline = min(next_tick, next_wd) if wd else next_tick
            for key, _ in self.sel.select(max(0.0, deadline - time.monotonic())):
                key.data()
            now = time.monotonic()
            if now >= next_tick:
                self.tick += 1
                # After a long stall resync rather than burst through the missed ticks.
                next_tick = next_tick + period if now - next_tick < 1.0 else now + period
        log(f"stopping ({self.stop_reason})")
        sd_notify("STOPPING=1")
        ok = self.save()
        log("stopped")
        return 0 if ok else 1


def main() -> int:
    global _prefix
    _prefix = f"[{os.environ.get('SERVER_ID') or 'default'}] "
    try:
        cfg = parse_config(os.environ)
        tick = load_tick(cfg.save_dir)
        # a big world's loading time, before the port answers (tests of "starting")
        load_seconds = _num(os.environ, "LOAD_SECONDS", 0, 0, 600, float)
    except ConfigError as e:
        log(f"error: {e}")
        return 2
    if load_seconds:
        log(f"loading the world ({load_seconds:g} s)")
        time.sleep(load_seconds)
    # Python leaves sys.stdin None when fd 0 was closed at start; a socket may then hold fd 0.
    has_stdin = sys.stdin is not None
    try:
        udp, tcp = bind(cfg.port)
    except OSError as e:
        log(f"error: cannot bind port {cfg.port}: {e.strerror}")
        return 4
    server = Server(cfg, tick, udp, tcp)
    if has_stdin:
        server.watch_console(0, fifo=False)
    if cfg.console_fifo is not None:
        server.open_fifo(cfg.console_fifo)
    return server.run()


if __name__ == "__main__":
    raise SystemExit(main())
