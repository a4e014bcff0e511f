"""The HTTP API of warlockd.service on a real systemd, over real HTTP from the host (the
container shares its network): every resource with the example game, the state change over
Server-Sent Events within a second of systemd's, the security matrix, TLS, and the daemon
watching on with many idle streams and with an API that refuses to start."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.container import SystemdContainer, free_port, wait_for
from tests.integration.test_instances import create, manage, show

BASE = "/api/v1"
CONFIG = "/etc/warlock/warlockd.toml"


class Remote:
    """The API of the daemon in the container, as a client on the host sees it."""

    def __init__(self, ct: SystemdContainer, port: int) -> None:
        self.ct, self.port = ct, port
        self.url = f"http://127.0.0.1:{port}"
        self.keys: dict[str, str] = {}

    def key(self, name: str, scope: str, *only: str) -> str:
        args = ["api-key", "create", "--name", name, "--scope", scope]
        for iid in only:
            args += ["--only", iid]
        made: dict[str, Any] = json.loads(manage(self.ct, *args).stdout)
        self.keys[name] = made["key"]
        return self.keys[name]

    def call(self, method: str, path: str, key: str | None = "admin", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def wait(self, answer: httpx.Response, timeout: float = 120) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        op_id = answer.json()["operation"]["id"]

        def finished() -> dict[str, Any]:
            op: dict[str, Any] = self.call("GET", f"{BASE}/operations/{op_id}").json()
            return op if op["state"] in ("done", "failed") else {}

        return wait_for(finished, timeout=timeout, interval=0.2, message=f"operation {op_id}")

    def row(self, iid: str) -> dict[str, Any]:
        got: dict[str, Any] = self.call("GET", f"{BASE}/instances/{iid}").json()
        return got


def configure(ct: SystemdContainer, text: str) -> None:
    ct.run(["mkdir", "-p", "/etc/warlock"])
    ct.run(["sh", "-c", f"cat > {CONFIG} <<'EOF'\n{text}\nEOF"])


@pytest.fixture(scope="module")
def remote(systemd_available: None) -> Iterator[Remote]:
    with SystemdContainer() as ct:
        port = free_port()
        configure(ct, f"interval = 1\n\n[api]\nport = {port}\n")  # max_streams: 100
        manage(ct, "setup")
        r = Remote(ct, port)
        wait_for(lambda: _answers(r), timeout=30, message="the API answering on 127.0.0.1")
        r.key("admin", "admin")
        r.key("read", "read")
        r.key("operate", "operate")
        yield r


def _answers(r: Remote) -> bool:
    try:
        return httpx.get(r.url + f"{BASE}/instances", timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


class Stream:
    """A Server-Sent Events stream read line by line on the host."""

    def __init__(self, r: Remote, path: str, key: str = "admin", **headers: str) -> None:
        self.cm = httpx.stream(
            "GET", r.url + path, timeout=10,
            headers={"Authorization": f"Bearer {r.keys[key]}", **headers},
        )  # fmt: skip
        self.response = self.cm.__enter__()
        self.lines = self.response.iter_lines()

    def until(self, kind: str, match: Any = lambda data: True) -> tuple[dict[str, Any], float]:
        """The next event of `kind` whose data `match` accepts, and when it arrived."""
        event: dict[str, Any] = {}
        for raw in self.lines:
            line = raw.rstrip("\r\n")
            if line:
                field, _, value = line.partition(": ")
                event[field] = json.loads(value) if field == "data" else value
                continue
            if event.get("event") == kind and match(event.get("data")):
                return event, time.monotonic()
            event = {}
        raise EOFError("the stream ended")

    def close(self) -> None:
        self.cm.__exit__(None, None, None)


def test_an_instance_through_its_whole_life_over_http(remote: Remote) -> None:
    r = remote
    made = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "Web"}))
    assert made["state"] == "done", made
    iid = made["instance_id"]
    assert iid in [row["id"] for row in r.call("GET", f"{BASE}/instances").json()]
    assert r.call("POST", f"{BASE}/instances/{iid}/start", key="operate").status_code == 200
    assert r.row(iid)["status"] == "running"
    unit = f"game@{iid}.service"

    # the state change reaches a client within a second of systemd's
    events = Stream(r, f"{BASE}/events/stream?kinds=state&instance={iid}")
    began = time.monotonic()
    r.ct.run(["systemctl", "kill", "--signal=SIGKILL", unit])
    _, arrived = events.until("state", lambda d: d["status"] != "running")
    assert arrived - began < 1.0, arrived - began
    events.close()
    wait_for(lambda: r.row(iid)["status"] == "running", timeout=30, message="restarted")

    # players, from the game's own query, sampled by the daemon
    r.call("POST", f"{BASE}/instances/{iid}/console", key="operate", json={"command": "join 3"})
    wait_for(lambda: r.row(iid)["players"] == 3, timeout=15, message="3 players")
    listed = next(x for x in r.call("GET", f"{BASE}/instances").json() if x["id"] == iid)
    assert (listed["players"], listed["max_players"]) == (3, 16)
    assert listed["memory_bytes"] and listed["uptime"] is not None

    # logs: the last while, and live
    logs = Stream(r, f"{BASE}/instances/{iid}/logs/stream")
    r.call("POST", f"{BASE}/instances/{iid}/console", key="operate", json={"command": "say hello"})
    line, _ = logs.until("log", lambda d: "say: hello" in d["message"])
    logs.close()
    history = r.call("GET", f"{BASE}/instances/{iid}/logs", params={"since": "10m"}).json()
    assert any("say: hello" in x["message"] for x in history["lines"])
    again = Stream(r, f"{BASE}/instances/{iid}/logs/stream", **{"Last-Event-ID": line["id"]})
    r.call("POST", f"{BASE}/instances/{iid}/console", key="operate", json={"command": "say again"})
    nxt, _ = again.until("log")
    again.close()
    assert "say: hello" not in nxt["data"]["message"]  # it went on after the cursor

    # settings, metrics, events, Prometheus
    put = r.call("PUT", f"{BASE}/instances/{iid}/settings/Map", json={"value": "arena"})
    assert put.status_code == 200 and put.json()["data"]["restart_needed"] is True
    got = r.call("GET", f"{BASE}/instances/{iid}/settings").json()
    assert next(s for s in got if s["option"] == "Map")["value"] == "arena"
    wait_for(
        lambda: r.call("GET", f"{BASE}/instances/{iid}/metrics", params={"since": "5m"}).json()[
            "samples"
        ],
        timeout=15, message="samples in the history",
    )  # fmt: skip
    kinds = {e["kind"] for e in r.call("GET", f"{BASE}/events", params={"instance": iid}).json()}
    assert {"started", "crashed", "api"} <= kinds
    assert f'instance_id="{iid}"' in r.call("GET", "/metrics", key="read").text

    # stop, backup, restore, download
    assert r.call("POST", f"{BASE}/instances/{iid}/stop").status_code == 200
    assert r.row(iid)["status"] == "stopped"
    assert r.wait(r.call("POST", f"{BASE}/instances/{iid}/backups", json={}))["state"] == "done"
    backups = r.call("GET", f"{BASE}/instances/{iid}/backups").json()
    name = backups[0]["name"]
    download = r.call("GET", f"{BASE}/instances/{iid}/backups/{name}", key="operate")
    assert download.status_code == 200 and download.content[:2] == b"\x1f\x8b"
    restored = r.wait(r.call("POST", f"{BASE}/instances/{iid}/backups/{name}/restore", json={}))
    assert restored["state"] == "done" and restored["result"]["restored"].endswith(name)
    traversal = r.call(
        "POST", f"{BASE}/instances/{iid}/backups/..%2F..%2F..%2Fetc%2Fshadow/restore"
    )
    assert traversal.status_code in (400, 404, 405)

    # delete
    gone = r.call("DELETE", f"{BASE}/instances/{iid}", params={"purge": "true"})
    assert gone.status_code == 200
    assert r.call("GET", f"{BASE}/instances/{iid}").status_code == 404
    assert r.ct.systemctl("is-active", unit).stdout.strip() != "active"


def test_the_other_endpoints_over_http(remote: Remote) -> None:
    r = remote
    apps = r.call("GET", f"{BASE}/apps", key="read").json()
    assert "example" in [a["slug"] for a in apps]
    assert r.call("GET", f"{BASE}/apps/example", key="read").json()["slug"] == "example"
    doc = r.call("GET", f"{BASE}/openapi.json", key="read").json()
    assert f"{BASE}/instances/{{instance_id}}/delayed-restart" in doc["paths"]
    made = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "Src"}))
    iid = made["instance_id"]
    assert r.call("POST", f"{BASE}/instances/{iid}/start").status_code == 200
    assert r.call("POST", f"{BASE}/instances/{iid}/restart").status_code == 200
    delayed = r.call("POST", f"{BASE}/instances/{iid}/delayed-restart", json={"warn": "10s"})
    assert delayed.status_code == 200 and delayed.json()["data"]["action"] == "restart"
    update = r.wait(r.call("POST", f"{BASE}/instances/{iid}/update", key="operate"))
    assert update["state"] in ("done", "failed") and (update["error"] or {}).get("status") != 500
    clone = r.wait(r.call("POST", f"{BASE}/instances/{iid}/clone", json={"name": "Copy"}))
    assert clone["state"] == "done", clone
    assert r.row(clone["instance_id"])["name"] == "Copy"
    ops = r.call("GET", f"{BASE}/operations", key="read").json()
    assert {"create", "update", "clone"} <= {o["command"] for o in ops}

    key = r.call("POST", f"{BASE}/keys", json={"name": "made-by-api", "scope": "read"}).json()
    assert httpx.get(f"{r.url}{BASE}/instances", headers={"Authorization": f"Bearer {key['key']}"},
                     timeout=10).status_code == 200  # fmt: skip
    assert r.call("DELETE", f"{BASE}/keys/made-by-api").json()["revoked_at"]
    user = {"name": "ops", "password": "a long password", "scope": "operate"}
    assert r.call("POST", f"{BASE}/users", json=user).status_code == 201
    with httpx.Client(base_url=r.url, timeout=30) as browser:
        login = browser.post(f"{BASE}/login", json={"name": "ops", "password": user["password"]})
        assert login.status_code == 200 and "HttpOnly" in login.headers["set-cookie"]
        token = login.json()["csrf_token"]
        assert browser.get(f"{BASE}/session").json()["who"] == "user:ops"
        stop = f"{BASE}/instances/{iid}/stop"
        cross = {"Origin": "https://evil.example", "X-CSRF-Token": token}
        assert browser.post(stop).status_code == 403  # no token: a cross-site form's POST
        assert browser.post(stop, headers=cross).status_code == 403
        assert r.row(iid)["status"] == "running"
        assert browser.post(stop, headers={"X-CSRF-Token": token}).status_code == 200
        assert browser.post(f"{BASE}/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert r.call("PUT", f"{BASE}/users/ops/password", json={"password": "another long one"})
    assert r.call("DELETE", f"{BASE}/users/ops").status_code == 200
    for gone in (iid, clone["instance_id"]):
        assert (
            r.call("DELETE", f"{BASE}/instances/{gone}", params={"purge": "true"}).status_code
            == 200
        )


def test_refused_callers_get_401_403_or_404_and_change_nothing(remote: Remote) -> None:
    r = remote
    a = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "A"}))
    b = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "B"}))
    ia, ib = a["instance_id"], b["instance_id"]
    r.key("only-a", "admin", ia)
    r.keys["wrong"] = "wlk_" + "0" * 16 + "_" + "A" * 43
    before = show(r.ct, f"game@{ib}.service", "ActiveState", "NRestarts")
    for key, expected in ((None, 401), ("wrong", 401), ("read", 403), ("only-a", 404)):
        for method, path in (
            ("POST", f"{BASE}/instances/{ib}/start"),
            ("POST", f"{BASE}/instances/{ib}/backups"),
            ("PUT", f"{BASE}/instances/{ib}/settings/Map"),
            ("DELETE", f"{BASE}/instances/{ib}"),
        ):
            got = r.call(
                method, path, key=key, json={"value": "arena"} if "settings" in path else {}
            )
            assert got.status_code == expected, (key, method, path, got.text)
            assert set(got.json()) == {"error", "hint"}
    assert show(r.ct, f"game@{ib}.service", "ActiveState", "NRestarts") == before
    assert r.call("GET", f"{BASE}/instances/{ib}/backups").json() == []
    listed = r.call("GET", f"{BASE}/instances", key="only-a").json()
    assert [x["id"] for x in listed] == [ia]
    for iid in (ia, ib):
        r.call("DELETE", f"{BASE}/instances/{iid}", params={"purge": "true"})


def test_many_idle_streams_are_capped_and_the_daemon_keeps_watching(remote: Remote) -> None:
    r = remote
    keys = [r.key(f"watcher-{n}", "read") for n in range(8)]
    open_: list[socket.socket] = []
    codes: list[int] = []
    refusals: list[str] = []
    for n in range(110):  # max_streams: 100 by default, max_streams_per_client: 16
        s = socket.create_connection(("127.0.0.1", r.port), timeout=10)
        head = (
            f"GET {BASE}/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {keys[n % 8]}\r\n\r\n"
        )
        s.sendall(head.encode())
        answer = s.recv(4096)
        codes.append(int(answer.split()[1]))
        if codes[-1] != 200:  # the body says how many streams are open (when it came along)
            refusals.append(answer.partition(b"\r\n\r\n")[2].decode(errors="replace"))
        open_.append(s)
    assert codes.count(200) == 100 and codes.count(503) == 10, (codes, refusals[:1])
    made = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "Busy"}))
    iid = made["instance_id"]
    r.call("POST", f"{BASE}/instances/{iid}/start")
    r.ct.run(["systemctl", "kill", "--signal=SIGKILL", f"game@{iid}.service"])
    wait_for(
        lambda: "crashed" in {e["kind"] for e in r.call(
            "GET", f"{BASE}/events", params={"instance": iid}).json()},
        timeout=20, message="the crash recorded while 100 streams are open",
    )  # fmt: skip
    for s in open_:
        s.close()
    r.call("DELETE", f"{BASE}/instances/{iid}", params={"purge": "true"})


def test_an_instance_made_or_deleted_from_a_shell_reaches_the_streams_at_once(
    remote: Remote,
) -> None:
    r = remote  # the daemon scans the registry every 6 s here; inotify tells it sooner
    events = Stream(r, f"{BASE}/events/stream?kinds=state,removed")
    iid = create(r.ct, "--instance-name", "From a shell")["id"]
    made = time.monotonic()
    got, arrived = events.until("state", lambda d: d["id"] == iid)
    assert arrived - made < 1.5 and got["data"]["name"] == "From a shell", arrived - made
    manage(r.ct, "--instance", iid, "set-config", "Server Name", "Renamed in a shell")
    renamed = time.monotonic()
    _, arrived = events.until("state", lambda d: d["name"] == "Renamed in a shell")
    assert arrived - renamed < 1.5, arrived - renamed  # a record changed: its row anew
    manage(r.ct, "--instance", iid, "--delete", "--yes", "--purge")
    gone = time.monotonic()
    _, arrived = events.until("removed", lambda d: d["instance_id"] == iid)
    assert arrived - gone < 1.5, arrived - gone
    events.close()
    assert iid not in [x["id"] for x in r.call("GET", f"{BASE}/instances").json()]


def test_a_backup_under_way_outlives_a_restart_of_warlockd(remote: Remote) -> None:
    r = remote
    made = r.wait(r.call("POST", f"{BASE}/instances", json={"app": "example", "name": "Kept"}))
    iid = made["instance_id"]
    backups = f"{r.row(iid)['path']}/backups"
    lock = f"{backups}/.lock"
    # another backup holds the instance's backup lock: the API's one waits in its unit
    r.ct.sh(f"test -d {backups} || install -d -m 700 {backups}")
    r.ct.run(["systemd-run", "--unit=hold-backups", "flock", lock, "sleep", "600"])
    wait_for(lambda: r.ct.sh(f"flock -n {lock} true || echo held") == "held", timeout=10,
             message="the lock held")  # fmt: skip
    answer = r.call("POST", f"{BASE}/instances/{iid}/backups", key="operate")
    assert answer.status_code == 202, answer.text
    op_id = answer.json()["operation"]["id"]
    unit = f"warlock-api-{op_id.removeprefix('op_')}.service"
    wait_for(lambda: r.ct.systemctl("is-active", unit).stdout.strip() == "active", timeout=10,
             message=f"{unit} running")  # fmt: skip

    began = time.monotonic()
    r.ct.run(["systemctl", "restart", "warlockd.service"])  # as an upgrade of the package does
    restarted = time.monotonic() - began
    assert restarted < 10, f"warlockd took {restarted:.1f} s to restart (it waited for the backup)"
    assert r.ct.systemctl("is-active", unit).stdout.strip() == "active"  # not cut short
    wait_for(lambda: _answers(r), timeout=30, message="the API back")
    again = r.call("GET", f"{BASE}/operations/{op_id}", key="read")
    assert again.status_code == 200 and again.json()["state"] == "running", again.text

    r.ct.run(["systemctl", "stop", "hold-backups.service"])
    done = wait_for(
        lambda: (o := r.call("GET", f"{BASE}/operations/{op_id}").json())["state"] != "running"
        and o, timeout=60, message="the backup followed to its end by the new warlockd",
    )  # fmt: skip
    assert done["state"] == "done" and done["result"]["file"].endswith(".tar.gz"), done
    assert r.ct.sh(f"test -f {done['result']['file']} && echo there") == "there"
    assert r.ct.sh(f"ls /run/warlock/api/ 2>/dev/null | grep -c {op_id} || true") == "0"
    r.call("DELETE", f"{BASE}/instances/{iid}", params={"purge": "true"})


def test_tls_and_the_refusal_to_listen_beyond_loopback_without_it(remote: Remote) -> None:
    r = remote
    port = free_port()
    configure(r.ct, f'interval = 1\n\n[api]\nlisten = "0.0.0.0"\nport = {port}\n')
    r.ct.systemctl("reload", "warlockd")
    wait_for(
        lambda: "refusing to listen on 0.0.0.0" in r.ct.run(
            ["journalctl", "-u", "warlockd", "--no-pager", "-n", "30"]).stdout,
        timeout=15, message="the refusal in the journal",
    )  # fmt: skip
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert r.ct.systemctl("is-active", "warlockd").stdout.strip() == "active"
    manage(r.ct, "list")  # the daemon and the CLI go on

    configure(r.ct, f"interval = 1\n\n[api]\nport = {port}\ntls_self_signed = true\n")
    r.ct.systemctl("reload", "warlockd")

    def fingerprint() -> str | None:
        log = r.ct.run(["journalctl", "-u", "warlockd", "--no-pager", "-n", "30"]).stdout
        found = [line for line in log.splitlines() if "certificate SHA-256" in line]
        return found[-1].rsplit(" ", 1)[-1] if found else None

    pinned = wait_for(fingerprint, timeout=20, message="the fingerprint in the journal")
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    import hashlib

    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    assert pinned == ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    got = httpx.get(
        f"https://127.0.0.1:{port}{BASE}/instances", verify=False, timeout=10,
        headers={"Authorization": f"Bearer {r.keys['read']}"},
    )  # fmt: skip
    assert got.status_code == 200 and "strict-transport-security" in got.headers
    configure(r.ct, f"interval = 1\n\n[api]\nport = {r.port}\n")
    r.ct.systemctl("reload", "warlockd")
    wait_for(lambda: _answers(r), timeout=20, message="the API back on its port")
