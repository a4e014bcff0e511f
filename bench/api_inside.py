"""Runs inside the container (Debian's python3): warlockd's HTTP API at N instances.

    /usr/bin/python3 bench/api_inside.py PORT [WINDOW_S]

warlockd.service must run with `[api] port = PORT` and the instances exist. Prints one JSON
object with, each beside its baseline from this same run:
- GET /api/v1/instances: latency (median, p99) of one client, and requests per second of
  one client and of two (one process each, keep-alive connections); beside
  `manage.py list --json` (median, and its requests per second one after another);
- a state change to the SSE event: `systemctl kill` of a running game to its `state` event
  at a client; beside the time `systemctl kill` itself takes to return;
- warlockd's RSS and CPU share over WINDOW_S: with the API off (the baseline), with it on
  and idle, and with 10 SSE clients reading every kind of event.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from multiprocessing import Process, Queue
from pathlib import Path

SNAP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SNAP))

from bench.stats import percentile  # noqa: E402

PY = "/usr/bin/python3"
MANAGE = [PY, str(SNAP / "manage.py")]
CONFIG = Path("/etc/warlock/warlockd.toml")


def sh(*argv: str, timeout: float = 600) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout


class Client:
    """One keep-alive HTTP/1.1 connection, as lean as a benchmark client can be."""

    def __init__(self, port: int, key: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.key = key
        self.buf = b""

    def get(self, path: str) -> bytes:
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n\r\n"
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )  # fmt: skip
        while len(rest) < length:
            rest += self.sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        self.buf = rest[length:]
        return rest[:length]


def _load(port: int, key: str, seconds: float, out: Queue) -> None:  # type: ignore[type-arg]
    c = Client(port, key)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        c.get("/api/v1/instances")
        times.append((time.perf_counter() - now) * 1000)
    out.put(times)


def listing(port: int, key: str, clients: int, seconds: float) -> dict[str, float]:
    results: Queue = Queue()  # type: ignore[type-arg]
    procs = [Process(target=_load, args=(port, key, seconds, results)) for _ in range(clients)]
    for p in procs:
        p.start()
    times = [t for _ in procs for t in results.get()]
    for p in procs:
        p.join()
    return {"median": statistics.median(times), "p99": percentile(times, 99),
            "rps": len(times) / seconds, "n": len(times)}  # fmt: skip


def cli_list(repeat: int = 20) -> dict[str, float]:
    out = sh(PY, str(SNAP / "bench" / "timeit_cmd.py"), "--repeat", str(repeat), "--warmup", "3",
             "--", *MANAGE, "list", "--json")  # fmt: skip
    stats: dict[str, float] = json.loads(out)
    stats["rps"] = 1000 / stats["median"]
    return stats


class Stream:
    def __init__(self, port: int, key: str, kinds: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        head = (f"GET /api/v1/events/stream?kinds={kinds} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {key}\r\n\r\n")  # fmt: skip
        self.sock.sendall(head.encode())
        self.buf = b""

    def wait_for(self, needle: bytes, timeout: float = 30) -> float:
        self.sock.settimeout(timeout)
        while needle not in self.buf:
            self.buf += self.sock.recv(65536)
        at = time.perf_counter()
        self.buf = self.buf[self.buf.index(needle) + len(needle) :]
        return at

    def drain(self) -> None:
        self.sock.setblocking(False)
        try:
            while self.sock.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        self.sock.setblocking(True)


def sse_latency(port: int, key: str, ids: list[str], rounds: int) -> dict[str, list[float]]:
    s = Stream(port, key, "state")
    time.sleep(1)
    figures, kills = [], []
    for iid in ids[:rounds]:
        s.drain()
        s.buf = b""
        began = time.perf_counter()
        subprocess.run(["systemctl", "kill", "--signal=SIGKILL", f"game@{iid}.service"], check=True)
        kills.append((time.perf_counter() - began) * 1000)
        needle = f'"id":"{iid}"'.encode()
        while True:
            at = s.wait_for(needle)
            line = s.buf.split(b"\n", 1)[0]
            if b'"status":"running"' not in line:
                break
        figures.append((at - began) * 1000)
        time.sleep(2)  # systemd restarts it (Restart=on-failure)
    return {"sse_ms": figures, "kill_ms": kills}


def daemon_pid() -> int:
    return int(sh("systemctl", "show", "-p", "MainPID", "--value", "warlockd"))


def usage(window: float) -> dict[str, float]:
    pid = daemon_pid()

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    c0, t0 = cpu(), time.monotonic()
    time.sleep(window)
    share = (cpu() - c0) / (time.monotonic() - t0) * 100
    rss = next(
        int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )  # fmt: skip
    return {"cpu_percent": share, "rss_mb": rss}


def restart_with(text: str, port: int) -> None:
    CONFIG.write_text(text)
    sh("systemctl", "restart", "warlockd")
    deadline = time.monotonic() + 60
    if "enabled = false" in text:
        time.sleep(15)
        return
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    time.sleep(15)  # settled into its cadence


def main() -> None:
    port = int(sys.argv[1])
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    api = f"[api]\nport = {port}\nmax_streams = 100\n"
    rows = json.loads(sh(*MANAGE, "list", "--json"))
    running = [r["id"] for r in rows if r["status"] == "running"]
    restart_with(f"[api]\nenabled = false\nport = {port}\n", port)
    off = usage(window)
    restart_with(api, port)
    key = json.loads(sh(*MANAGE, "api-key", "create", "--name", "bench", "--scope", "read"))["key"]
    idle = usage(window)
    streams = [Stream(port, key, "state,sample,event,operation,removed") for _ in range(10)]
    busy = usage(window)
    for s in streams:
        s.sock.close()
    one = listing(port, key, 1, 10)
    two = listing(port, key, 2, 10)
    cli = cli_list()
    sse = sse_latency(port, key, running, 10)
    print(json.dumps({
        "instances": len(rows), "running": len(running), "window_s": window,
        "api_one": one, "api_two": two, "cli": cli, **sse,
        "off": off, "idle": idle, "streams10": busy,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
