"""Assetto Corsa on a real systemd: two Content Manager packs imported side by side, their
stand-in servers (tests/fakes/acserver) on the ports warlockd gave them, players counted
through /INFO, the join link in get-services, `link`, the events and a webhook's body, a
crash restarted, and bad packs refused without a trace."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, free_block, wait_for
from tests.integration.test_instances import manage, services, show
from tests.unit import acpack

LINK = "https://acstuff.ru/s/q:race/online/join?ip=127.0.0.1&httpPort={}"


class Sink:
    """A webhook endpoint in this process (the container shares the host's network)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        sink = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink.bodies.append((self.path, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.server.shutdown()


@pytest.fixture(scope="module")
def packs() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ac-packs-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def ct(systemd_available: None, packs: Path, sink: Sink) -> Iterator[SystemdContainer]:
    with SystemdContainer(binds=[(packs, "/packs")]) as booted:
        hooks = "".join(
            f'[[webhooks]]\nurl = "http://127.0.0.1:{sink.port}/{kind}"\nkind = "{kind}"\n'
            for kind in ("json", "discord")
        )
        booted.run(["mkdir", "-p", "/etc/warlock"])
        booted.run(["sh", "-c", "cat > /etc/warlock/warlockd.toml"], input=f"interval = 1\n{hooks}")
        manage(booted, "setup")
        yield booted


def _import(ct: SystemdContainer, pack: str, name: str) -> dict[str, Any]:
    out = manage(ct, "import-pack", pack, "--instance-name", name).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _bound(ct: SystemdContainer, proto: str, port: int) -> bool:
    flag = "-Hlnu" if proto == "udp" else "-Hlnt"
    return f":{port} " in ct.run(["ss", flag, f"sport = :{port}"]).stdout + " "


def _events(ct: SystemdContainer, instance_id: str) -> list[dict[str, Any]]:
    out = manage(ct, "events", "--instance", instance_id, "--since", "1h", "--json").stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def _has_link(ct: SystemdContainer, instance_id: str, link: str) -> Callable[[], bool]:
    return lambda: bool(services(ct, instance_id)["link"] == link)


def test_two_packs_run_side_by_side_with_players_links_events_and_a_crash(
    ct: SystemdContainer, packs: Path, sink: Sink
) -> None:
    # one pack, its ports free right now on this shared network; the second instance's
    # are the next two (warlockd steps by the span of the pack's ports)
    base = free_block(4)
    http = base + 1
    cfg = acpack.server_cfg((base, base, http), MAX_CLIENTS="2")
    acpack.build(packs / "server-pack.tar.gz", {"cfg/server_cfg.ini": (cfg.encode(), 0o644)})
    a = _import(ct, "/packs/server-pack.tar.gz", "Monday league")
    b = _import(ct, "/packs/server-pack.tar.gz", "Tuesday practice")
    assert a["ports"] == {"udp": base, "tcp": base, "http": http}  # the pack's own
    assert a["ports"] != b["ports"] and a["build"] == b["build"]
    builds = ct.sh("ls -d /var/lib/warlock/apps/*/pack-*").split()
    assert builds == [f"/var/lib/warlock/apps/{a['app']}/{a['build']}"]  # one shared copy
    for inst in (a, b):
        text = ct.run(["cat", f"{inst['path']}/data/cfg/server_cfg.ini"]).stdout
        p = inst["ports"]
        assert f"UDP_PORT={p['udp']}\n" in text and f"HTTP_PORT={p['http']}\n" in text
        assert "NAME=akina \u2139" in text and "[WEATHER_0]" in text  # the rest as it was

    manage(ct, "--instance", a["id"], "--start")  # both spellings
    manage(ct, "start", "--instance", b["id"])
    for inst in (a, b):
        p = inst["ports"]
        assert _bound(ct, "udp", p["udp"]) and _bound(ct, "tcp", p["tcp"])
        assert _bound(ct, "tcp", p["http"])
        svc = services(ct, inst["id"])
        assert svc["status"] == "running" and svc["player_count"] == 0
        assert svc["max_players"] == 2 and svc["map"] == "pk_akina-akina_downhill"
        assert svc["session"] == "practice"
        link = LINK.format(p["http"])
        wait_for(_has_link(ct, inst["id"], link), timeout=20, message="the link in get-services")
        assert manage(ct, "--instance", inst["id"], "link").stdout.strip() == link
        assert link in show(ct, f"game@{inst['id']}.service", "StatusText")["StatusText"]
        # the content the server reads is the build's, linked
        target = ct.run(["readlink", f"{inst['path']}/data/content"]).stdout.strip()
        assert target == f"{builds[0]}/content"

    # a driver joins A over its TCP port: counted through /INFO, by name, A only
    with socket.create_connection(("127.0.0.1", a["ports"]["tcp"]), timeout=5) as driver:
        driver.sendall(b"JOIN Keiichi\n")
        assert driver.recv(16) == b"OK\n"
        # the runner's probe of /INFO counts it (every watchdog/3 s), warlockd's ready
        # answer and its samples follow the runner's status line
        wait_for(lambda: services(ct, a["id"])["player_count"] == 1, timeout=30,
                 message="get-services counts the driver")  # fmt: skip
        assert services(ct, a["id"])["players"] == ["Keiichi"]
        assert services(ct, b["id"])["player_count"] == 0
        status = show(ct, f"game@{a['id']}.service", "StatusText")["StatusText"]
        assert status.startswith("players 1/2: Keiichi | session practice | map pk_akina")
        wait_for(lambda: json.loads(manage(ct, "--instance", a["id"], "--get-metrics").stdout)
                 [f"game@{a['id']}"]["player_count"] == 1, timeout=30,
                 message="the daemon's sample counts the driver")  # fmt: skip

    # the link as an event, and in the webhooks' bodies
    link_a = LINK.format(a["ports"]["http"])
    wait_for(lambda: any(e["kind"] == "link" for e in _events(ct, a["id"])), timeout=20,
             message="a link event")  # fmt: skip
    event = next(e for e in _events(ct, a["id"]) if e["kind"] == "link")
    assert event["message"] == f"server started: {link_a}"

    def posted(kind: str) -> list[dict[str, Any]]:
        return [body for path, body in sink.bodies if path == f"/{kind}"
                and a["id"] in json.dumps(body) and link_a in json.dumps(body)]  # fmt: skip

    wait_for(lambda: posted("json") and posted("discord"), timeout=20, message="webhooks")
    body = next(b for b in posted("json") if b["kind"] == "link")
    assert body["message"] == f"server started: {link_a}" and body["data"]["link"] == link_a
    embed = posted("discord")[0]["embeds"][0]
    assert embed["title"] == "Monday league: link" and link_a in embed["description"]

    # a crash: systemd restarts it, and the new run announces its link again
    game = services(ct, a["id"])["game_pid"]
    ct.run(["kill", "-SEGV", str(game)])
    unit = f"game@{a['id']}.service"
    wait_for(lambda: show(ct, unit, "NRestarts")["NRestarts"] == "1", timeout=30, message="restart")
    wait_for(lambda: services(ct, a["id"])["status"] == "running", timeout=30, message="running")
    assert services(ct, a["id"])["game_pid"] != game
    wait_for(lambda: services(ct, a["id"])["link"] == link_a, timeout=20, message="link again")
    kinds = [e["kind"] for e in _events(ct, a["id"])]
    assert "crashed" in kinds and "restarted" in kinds
    wait_for(lambda: [e["kind"] for e in _events(ct, a["id"])].count("link") >= 2, timeout=20,
             message="the restarted server's link event")  # fmt: skip

    # a setting people change per preset, into the INI, applied by a restart
    path = f"{a['path']}/data/cfg/server_cfg.ini"
    before = ct.run(["cat", path]).stdout
    manage(ct, "--instance", a["id"], "--set-config", "Max Clients", "18")
    assert ct.run(["cat", path]).stdout == before.replace("MAX_CLIENTS=2\n", "MAX_CLIENTS=18\n")
    manage(ct, "--instance", a["id"], "--restart")
    wait_for(lambda: services(ct, a["id"])["max_players"] == 18, timeout=30, message="18")

    for inst in (a, b):
        manage(ct, "--instance", inst["id"], "--stop")
        assert show(ct, f"game@{inst['id']}.service", "Result")["Result"] == "success"
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


BAD: dict[str, tuple[acpack.Members, str, str]] = {
    "windows.zip": ({"acServer": None, "acServer.exe": (b"MZ\x90\x00", 0o644)}, "zip",
                    "a pack for Windows only"),
    "no-config.tar.gz": ({"cfg/server_cfg.ini": None}, "tar.gz", "no cfg/server_cfg.ini"),
    "ports.tar.gz": ({"cfg/server_cfg.ini": (acpack.server_cfg((9600, 9600, 70000)).encode(),
                                             0o644)}, "tar.gz", "out of range"),
}  # fmt: skip


def test_a_bad_pack_is_one_line_exit_2_and_changes_nothing(
    ct: SystemdContainer, packs: Path
) -> None:
    def state() -> str:
        units = "systemctl list-units --all --plain --no-legend 'game@*'"
        return ct.sh(f"find /var/lib/warlock /etc/systemd/system | sort; {units}; getent passwd")

    before = state()
    for name, (changes, kind, says) in BAD.items():
        acpack.build(packs / name, changes, kind=kind)
        result = manage(ct, "import-pack", f"/packs/{name}", check=False)
        assert result.returncode == 2 and result.stdout == "", result
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert "Linux (64-bit)" in manage(ct, "import-pack", "/packs/windows.zip", check=False).stderr
    assert state() == before
