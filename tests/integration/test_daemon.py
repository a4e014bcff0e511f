"""warlockd.service on a real systemd: watching, events, cache, D-Bus API, recovery."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import MANAGE, create, manage, show
from tests.unit.test_prometheus import parse as parse_prometheus

PROM = "/var/lib/prometheus/node-exporter"


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        booted.run(["mkdir", "-p", PROM, "/etc/warlock"])
        # a fast cadence so the test sees samples and crash retries quickly
        config = "interval = 1\ncrash_retry_base = 2\ncrash_retry_max = 4\n"
        booted.run(["bash", "-c", f"printf '{config}' > /etc/warlock/warlockd.toml"])
        manage(booted, "setup")
        yield booted


def events(ct: SystemdContainer, instance_id: str) -> list[dict[str, Any]]:
    out = manage(ct, "events", "--instance", instance_id, "--since", "1h", "--json").stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def kinds(ct: SystemdContainer, instance_id: str) -> list[str]:
    return [e["kind"] for e in events(ct, instance_id)]


def test_the_daemon_is_ready_and_counts_instances_in_its_status(ct: SystemdContainer) -> None:
    assert ct.systemctl("is-active", "warlockd").stdout.strip() == "active"
    assert ct.systemctl("is-enabled", "warlockd").stdout.strip() == "enabled"
    inst = create(ct, "--instance-name", "Watched")
    manage(ct, "--instance", inst["id"], "--start")
    wait_for(
        lambda: "1 running" in show(ct, "warlockd", "StatusText")["StatusText"],
        timeout=15,
        message="STATUS= counts the running instance",
    )
    wait_for(lambda: "started" in kinds(ct, inst["id"]), timeout=15, message="a started event")
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_setup_rewrites_a_stale_dropin_and_reloads_without_touching_the_game(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Upgraded")
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", inst["id"], "--start")
    pid = show(ct, unit, "MainPID")["MainPID"]
    conf = f"/etc/systemd/system/{unit}.d/50-warlock.conf"
    rendered = ct.run(["cat", conf]).stdout
    # as an earlier warlockd might have left it: another setting, not yet reloaded
    ct.run(["sed", "-i", "s/^TimeoutStopSec=.*/TimeoutStopSec=7/", conf])
    assert show(ct, unit, "NeedDaemonReload")["NeedDaemonReload"] == "yes"
    result = manage(ct, "setup")
    assert f"rewrote the drop-in of {unit}" in result.stderr
    assert ct.run(["cat", conf]).stdout == rendered
    props = show(ct, unit, "NeedDaemonReload", "MainPID", "ActiveState")
    assert props == {"NeedDaemonReload": "no", "MainPID": pid, "ActiveState": "active"}
    assert "rewrote" not in manage(ct, "setup").stderr  # nothing differs any more
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_crash_is_an_event_and_metrics_come_from_the_cache(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Crashy")
    manage(ct, "--instance", inst["id"], "--start")
    manage(ct, "--instance", inst["id"], "--cmd", "join 4")

    def cached() -> dict[str, Any]:
        out = manage(ct, "--instance", inst["id"], "--get-metrics").stdout
        data: dict[str, Any] = json.loads(out)[f"game@{inst['id']}"]
        return data

    wait_for(
        lambda: cached()["source"] == "cache" and cached()["player_count"] == 4,
        timeout=20,
        message="players in the cache",
    )
    m = cached()
    assert m["instance_id"] == inst["id"] and m["status"] == "running"
    assert m["memory_usage"].endswith("MB")  # psutil: no cgroup accounting in the container
    manage(ct, "--instance", inst["id"], "--cmd", "crash")
    wait_for(
        lambda: {"crashed", "restarted"} <= set(kinds(ct, inst["id"])),
        timeout=30,
        message="crashed and restarted events",
    )
    prom = parse_prometheus(ct.run(["cat", f"{PROM}/warlockd.prom"]).stdout)  # strict
    up = {dict(labels)["instance_id"] for (name, labels), _ in prom.items() if name.endswith("_up")}
    assert inst["id"] in up and ("warlock_instance_restarts_total" in {n for n, _ in prom})
    history = json.loads(manage(ct, "metrics", "--instance", inst["id"], "--json").stdout)
    assert history and all(r["instance_id"] == inst["id"] for r in history)
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_the_dbus_api_lists_and_starts_instances(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Bus")
    call = [
        "busctl",
        "--json=short",
        "call",
        "org.warlock.Manager1",
        "/org/warlock/Manager1",
        "org.warlock.Manager1",
    ]
    wait_for(
        lambda: inst["id"] in ct.run([*call, "ListInstances"]).stdout,
        timeout=15,
        message="the daemon picked up the new instance",
    )
    ct.run([*call, "Start", "s", inst["id"]], timeout=60)
    assert ct.systemctl("is-active", f"game@{inst['id']}.service").stdout.strip() == "active"
    got = json.loads(ct.run([*call, "GetInstance", "s", inst["id"]]).stdout)
    assert json.loads(got["data"][0])["id"] == inst["id"]
    bad = ct.run([*call, "Start", "s", "../etc"], check=False)
    assert bad.returncode != 0 and "invalid instance id" in bad.stderr
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_sigkill_mid_work_loses_nothing_and_what_happened_meanwhile_is_recorded(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Survivor")
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", inst["id"], "--start")
    wait_for(lambda: "started" in kinds(ct, inst["id"]), timeout=15, message="started event")
    game_pid = show(ct, unit, "MainPID")["MainPID"]
    daemon_pid = show(ct, "warlockd", "MainPID")["MainPID"]
    ct.run(["systemctl", "mask", "--runtime", "warlockd"])  # keep it down for a moment
    ct.run(["kill", "-9", daemon_pid])
    manage(ct, "--instance", inst["id"], "--stop")  # while warlockd is down
    ct.run(["systemctl", "unmask", "--runtime", "warlockd"])
    ct.run(["systemctl", "start", "warlockd"])
    wait_for(
        lambda: any("while warlockd was down" in e["message"] for e in events(ct, inst["id"])),
        timeout=20,
        message="the stop is recovered from systemd's state",
    )
    check = (
        "import sqlite3; db = sqlite3.connect('/var/lib/warlock/warlock.db');"
        " print(db.execute('PRAGMA integrity_check').fetchone()[0])"
    )
    assert ct.run(["/usr/bin/python3", "-c", check]).stdout.strip() == "ok"
    # restarting the daemon never touches a running game
    manage(ct, "--instance", inst["id"], "--start")
    game_pid = show(ct, unit, "MainPID")["MainPID"]
    ct.run(["systemctl", "restart", "warlockd"])
    assert show(ct, unit, "MainPID")["MainPID"] == game_pid
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_crash_loop_is_retried_later_with_growing_delays(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Looper", "--env", "TICK_RATE=0")
    unit = f"game@{inst['id']}.service"
    manage(ct, "--instance", inst["id"], "--start", check=False)
    wait_for(
        lambda: sum("after a crash loop" in e["message"] for e in events(ct, inst["id"])) >= 2,
        timeout=120,
        interval=1,
        message="two retries by warlockd",
    )
    assert "Start request repeated too quickly" in ct.run(["journalctl", "-u", unit]).stdout
    loop = [e for e in events(ct, inst["id"]) if "retrying in" in e["message"]]
    delays = [int(e["message"].split("retrying in ")[1].split(" s")[0]) for e in loop]
    assert delays[:2] == [2, 4], delays
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_dashboard_json_shows_every_instance_crashed_first(ct: SystemdContainer) -> None:
    a = create(ct, "--instance-name", "Alpha")
    manage(ct, "--instance", a["id"], "--start")
    rows = json.loads(manage(ct, "dashboard", "--json").stdout)
    assert any(r["id"] == a["id"] and r["status"] == "running" for r in rows)
    text = manage(ct, "dashboard").stdout
    assert "Alpha" in text and "running" in text
    manage(ct, "--instance", a["id"], "--delete", "--yes", "--purge")


def test_a_backup_over_dbus_is_written_by_warlockd_as_the_game_user_reads_it(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "BackedUpOverDbus")
    iid = inst["id"]
    manage(ct, "--instance", iid, "--start")
    manage(ct, "--instance", iid, "--stop")  # world.json saved
    api = ["busctl", "--json=short", "call", "org.warlock.Manager1", "/org/warlock/Manager1",
           "org.warlock.Manager1"]  # fmt: skip
    wait_for(
        lambda: iid in ct.run([*api, "ListInstances"], check=False).stdout,
        timeout=15,
        message="warlockd tracks the instance",
    )
    made = []
    for _ in range(3):
        reply = json.loads(ct.run([*api, "Backup", "su", iid, "2"]).stdout)
        made.append(json.loads(reply["data"][0]))
    assert made[-1]["instance_id"] == iid and made[-1]["size"] > 0
    assert made[-1]["pruned"] == [made[0]["file"]]  # keeps the newest two
    names = ct.run(["tar", "-tzf", made[-1]["file"]]).stdout.split()
    assert names == ["world.json"]
    kept = ct.run(["ls", f"{inst['path']}/backups"]).stdout.split()
    assert sorted(kept) == sorted(f.rsplit("/", 1)[1] for f in [m["file"] for m in made[1:]])
    refused = ct.run([*api, "Backup", "su", "not-an-id", "0"], check=False)
    assert refused.returncode != 0 and "invalid instance id" in refused.stderr
    wait_for(lambda: "backup" in kinds(ct, iid), timeout=15, message="a backup event")
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_the_daemon_survives_a_restart_of_the_system_bus(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "BusRestart")
    call = [
        "busctl",
        "call",
        "org.warlock.Manager1",
        "/org/warlock/Manager1",
        "org.warlock.Manager1",
        "ListInstances",
    ]
    wait_for(
        lambda: inst["id"] in ct.run(call, check=False).stdout,
        timeout=15,
        message="the API lists the instance",
    )
    daemon_pid = show(ct, "warlockd", "MainPID")["MainPID"]
    ct.run(["systemctl", "restart", "dbus"])
    # the API comes back on the new bus, and watching goes on: a start is still an event
    wait_for(
        lambda: inst["id"] in ct.run(call, check=False).stdout,
        timeout=30,
        message="the API published again",
    )
    manage(ct, "--instance", inst["id"], "--start")
    wait_for(lambda: "started" in kinds(ct, inst["id"]), timeout=30, message="a started event")
    assert show(ct, "warlockd", "MainPID")["MainPID"] == daemon_pid  # not restarted: recovered
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_started_instance_is_sampled_a_second_later_on_its_own(ct: SystemdContainer) -> None:
    idle = create(ct, "--instance-name", "Idle")
    quick = create(ct, "--instance-name", "Quick")

    def sampled(inst: dict[str, Any]) -> dict[str, Any]:
        out = manage(ct, "--instance", inst["id"], "--get-metrics").stdout
        data: dict[str, Any] = json.loads(out)[f"game@{inst['id']}"]
        return data

    ct.sh("cp /etc/warlock/warlockd.toml /root/fast.toml && "
          "sed -i 's/^interval = 1$/interval = 60/' /etc/warlock/warlockd.toml")  # fmt: skip
    try:
        ct.run(["systemctl", "reload", "warlockd"])
        time.sleep(2.5)  # the round under the old cadence is done; the next is a minute off
        before = sampled(idle)["sampled_at"]
        began = time.time()
        manage(ct, "--instance", quick["id"], "--start")
        got = wait_for(lambda: (m := sampled(quick))["status"] == "running"
                       and m["sampled_at"] > began and m, timeout=10,
                       message="the started instance sampled again")  # fmt: skip
        assert got["sampled_at"] - began < 5 and got["source"] == "cache"
        assert sampled(idle)["sampled_at"] == before  # the others wait for their round
    finally:
        ct.sh("cp /root/fast.toml /etc/warlock/warlockd.toml && systemctl reload warlockd")
        for inst in (idle, quick):
            manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_reload_rereads_the_configuration_and_a_bad_one_is_refused(ct: SystemdContainer) -> None:
    pid = show(ct, "warlockd", "MainPID")["MainPID"]
    ct.run(
        [
            "bash",
            "-c",
            "cp /etc/warlock/warlockd.toml /root/good.toml && "
            "echo 'interval = \"often\"' >> /etc/warlock/warlockd.toml",
        ]
    )
    ct.run(["systemctl", "reload", "warlockd"])

    def log() -> str:
        return ct.run(["journalctl", "-u", "warlockd", "-o", "cat", "--no-pager"]).stdout

    wait_for(
        lambda: "keeping the previous configuration" in log(),
        timeout=15,
        message="the bad configuration is refused",
    )
    ct.run(["cp", "/root/good.toml", "/etc/warlock/warlockd.toml"])
    ct.run(["systemctl", "reload", "warlockd"])
    wait_for(lambda: "configuration reloaded" in log(), timeout=15, message="reloaded")
    assert show(ct, "warlockd", "MainPID")["MainPID"] == pid  # SIGHUP, not a restart
    assert ct.systemctl("is-active", "warlockd").stdout.strip() == "active"


# A webhook endpoint inside the container: records each POST as a JSON line; /hang
# answers only after a minute, as a dead endpoint would.
SINK = """
import http.server, json, time
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/hang":
            time.sleep(60)
        with open("/root/hooks.log", "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 18080), Hook).serve_forever()
"""


def test_webhooks_are_posted_and_a_hanging_endpoint_delays_nothing(ct: SystemdContainer) -> None:
    ct.run(["bash", "-c", f"cat > /root/sink.py <<'EOF'\n{SINK}\nEOF"])
    ct.run(["systemd-run", "--unit", "hooksink", "/usr/bin/python3", "/root/sink.py"])
    ct.run(["cp", "/etc/warlock/warlockd.toml", "/root/before-hooks.toml"])
    hooks = "".join(
        f'[[webhooks]]\nurl = "http://127.0.0.1:18080/{path}"\nkind = "{kind}"\n'
        for path, kind in (("hang", "json"), ("json", "json"), ("discord", "discord"))
    )
    ct.run(["bash", "-c", f"printf '{hooks}' >> /etc/warlock/warlockd.toml"])
    ct.run(["systemctl", "reload", "warlockd"])
    inst = create(ct, "--instance-name", "Hooked")
    manage(ct, "--instance", inst["id"], "--start")

    def posted() -> dict[str, dict[str, Any]]:
        out = ct.run(["bash", "-c", "cat /root/hooks.log 2>/dev/null || true"]).stdout
        rows = [json.loads(line) for line in out.splitlines()]
        return {r["path"]: r["body"] for r in rows if inst["id"] in json.dumps(r["body"])}

    # the hanging endpoint holds its own delivery for a minute; the others arrive at once
    wait_for(lambda: {"/json", "/discord"} <= set(posted()), timeout=15, message="both posts")
    got = posted()
    assert "/hang" not in got
    assert got["/json"]["kind"] == "started" and got["/json"]["instance_id"] == inst["id"]
    embed = got["/discord"]["embeds"][0]
    assert embed["title"].startswith("Hooked") and "running" in embed["description"]
    # an event a command records (start refused: the port is taken) goes out as well
    other = create(ct, "--instance-name", "Squatted", "--port", "game=31777")
    squat = "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    squat += "s.bind(('0.0.0.0', 31777)); time.sleep(600)"
    ct.run(["systemd-run", "--unit", "squatter", "/usr/bin/python3", "-c", squat])
    bound = ["grep", "-q", f":{31777:04X} ", "/proc/net/udp"]
    wait_for(lambda: ct.run(bound, check=False).returncode == 0, timeout=15, message="squatter")
    refused = manage(ct, "--instance", other["id"], "--start", check=False)
    assert refused.returncode == 1 and "is taken by" in refused.stderr
    wait_for(
        lambda: any(
            r["path"] == "/json" and r["body"]["kind"] == "port_conflict"
            and r["body"]["instance_id"] == other["id"]
            for r in (json.loads(line) for line in ct.run(
                ["bash", "-c", "cat /root/hooks.log"]).stdout.splitlines())
        ),
        timeout=15,
        message="the port conflict posted",
    )  # fmt: skip
    ct.run(["systemctl", "stop", "squatter"])
    manage(ct, "--instance", other["id"], "--delete", "--yes", "--purge")
    ct.run(["cp", "/root/before-hooks.toml", "/etc/warlock/warlockd.toml"])
    ct.run(["systemctl", "reload", "warlockd"])
    ct.run(["systemctl", "stop", "hooksink"])
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_dashboard_watch_redraws_in_a_terminal_until_ctrl_c(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "OnScreen")
    manage(ct, "--instance", inst["id"], "--start")
    # a real terminal (script's pty), Ctrl-C after 5 s: frames every 2 s, then a clean exit
    watch = f"timeout --foreground --preserve-status -s INT 5 {shlex.join(MANAGE)} dashboard -w"
    result = ct.run(["script", "-qfec", watch, "/dev/null"], check=False, timeout=60)
    assert result.returncode == 0, result.stdout[-500:]
    frames = result.stdout.split("\x1b[H")[1:]
    assert len(frames) >= 2 and "\x1b[2J" not in result.stdout
    assert all("OnScreen" in f and "Ctrl-C quits\x1b[J" in f for f in frames)
    assert "Traceback" not in result.stdout and "aborted" not in result.stdout
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")


def test_a_create_left_half_made_is_reported_when_warlockd_starts(ct: SystemdContainer) -> None:
    half = "5e1f0c2d-3b4a-4c6d-8e7f-9a0b1c2d3e4f"
    note = f"/var/lib/warlock/.creating-{half}.json"  # as a create killed -9 leaves it
    ct.run(["bash", "-c", f'echo \'{{"id": "{half}"}}\' > {note}'])
    ct.run(["systemctl", "restart", "warlockd"])
    out = manage(ct, "events", "--since", "1h", "--json").stdout
    said = [e["message"] for e in json.loads(out) if e["kind"] == "daemon"]
    assert f"a create of {half} was interrupted; the next create undoes it" in said
    ct.run(["rm", note])


def test_instance_changed_is_signalled_for_its_own_and_for_forwarded_events(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Signalled", "--port", "game=31888")
    match = "type='signal',interface='org.warlock.Manager1',member='InstanceChanged'"
    monitor = ct.popen(["timeout", "20", "busctl", "--system", "--json=short", "monitor",
                        f"--match={match}"])  # fmt: skip
    try:
        time.sleep(1.0)  # the monitor's match is in place
        manage(ct, "--instance", inst["id"], "--start")  # warlockd's own "started"
        manage(ct, "--instance", inst["id"], "--stop")
        squat = "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        squat += "s.bind(('0.0.0.0', 31888)); time.sleep(600)"
        ct.run(["systemd-run", "--unit", "squatter2", "/usr/bin/python3", "-c", squat])
        bound = ["grep", "-q", f":{31888:04X} ", "/proc/net/udp"]
        wait_for(lambda: ct.run(bound, check=False).returncode == 0, timeout=15, message="bound")
        assert manage(ct, "--instance", inst["id"], "--start", check=False).returncode == 1
        time.sleep(7.0)  # forwarded within a loop turn (at most 5 s)
    finally:
        ct.run(["systemctl", "stop", "squatter2"], check=False)
        monitor.terminate()
    out, _ = monitor.communicate(timeout=30)
    bodies = [json.loads(line)["payload"]["data"] for line in out.splitlines() if line.strip()]
    mine = [status for iid, status in bodies if iid == inst["id"]]
    # started and stopped (warlockd's own events), then the refused start (a command's)
    assert mine[-3:] == ["running", "stopped", "stopped"]
    manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
