"""The HTTP API's routes over a World (in-memory systemd), through Starlette's TestClient:
each answers from the daemon's view or through the table, as manage.py would."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B, ID_C, World
from tests.unit.test_prometheus import parse as parse_prometheus
from tests.unit.web_support import BASE, Api, make_api
from warlockd.layout import data_dir
from warlockd.store import Sample
from warlockd.web.routes_observe import downsample


@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return make_api(world, tmp_path)


def test_the_listing_shows_every_instance_from_the_daemons_view(api: Api) -> None:
    calls = len(api.world.mem.calls)
    r = api.call("GET", f"{BASE}/instances", key="read")
    assert r.status_code == 200
    rows = r.json()
    assert [row["name"] for row in rows] == ["alpha", "bravo"]
    alpha = rows[0]
    assert alpha["id"] == ID_A and alpha["app"] == "example" and alpha["status"] == "stopped"
    assert alpha["ports"][0]["key"] == "game" and alpha["max_players"] == 16
    assert int(r.headers["x-event-id"]) == api.server.bus.last_id
    assert len(api.world.mem.calls) == calls  # nothing asked of systemd


def test_a_record_changed_outside_the_api_sends_its_new_row(api: Api) -> None:
    registry = api.world.host.registry
    registry.save(registry.get(ID_A)._replace(name="renamed by hand"))
    last = api.server.bus.last_id
    api.daemon.load_registry()  # what the daemon does when inotify reports the record
    sent = [json.loads(e.data) for e in api.server.bus.after(last)[0] if e.kind == "state"]
    assert [(row["id"], row["name"]) for row in sent] == [(ID_A, "renamed by hand")]
    api.daemon.load_registry()  # nothing changed: nothing sent
    assert api.server.bus.last_id == last + 1


def test_the_listing_is_gzipped_for_a_client_that_accepts_it(api: Api) -> None:
    plain = api.call("GET", f"{BASE}/instances", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    for key, ids in (("admin", [ID_A, ID_B]), ("only-a", [ID_A])):  # shared, and scoped
        packed = api.call("GET", f"{BASE}/instances", key=key, headers={"accept-encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert int(packed.headers["content-length"]) < len(plain.content)
        assert [r["id"] for r in packed.json()] == ids  # the client undid the gzip
    again = api.call("GET", f"{BASE}/instances", headers={"accept-encoding": "gzip"})
    assert again.json() == plain.json()  # the cached packed form is the same listing


def test_one_instance_has_its_record_without_secrets_and_its_units_state(api: Api) -> None:
    got = api.call("GET", f"{BASE}/instances/{ID_A}", key="read").json()
    assert got["id"] == ID_A and got["unit"]["active"] == "inactive"
    assert isinstance(got["secrets"], list)  # names only, never values
    assert api.call("GET", f"{BASE}/instances/{ID_C}").status_code == 404
    bad = api.call("GET", f"{BASE}/instances/not-an-id")
    assert bad.status_code == 422 and "invalid instance id" in bad.json()["error"]


def test_start_and_stop_go_through_the_table_and_the_daemon_sees_the_change(api: Api) -> None:
    before = api.server.bus.last_id
    r = api.call("POST", f"{BASE}/instances/{ID_A}/start", key="operate")
    assert r.status_code == 200 and r.json()["command"] == "start"
    assert ("start", f"game@{ID_A}.service") in api.world.mem.calls
    api.pump()
    row = api.call("GET", f"{BASE}/instances/{ID_A}").json()
    assert row["status"] == "running"
    entries, _, missed = api.server.bus.after(before)
    states = [json.loads(e.data) for e in entries if e.kind == "state"]
    assert not missed and states[-1]["id"] == ID_A and states[-1]["status"] == "running"
    assert api.call("POST", f"{BASE}/instances/{ID_A}/stop", key="operate").status_code == 200
    api.pump()
    assert api.call("GET", f"{BASE}/instances/{ID_A}").json()["status"] == "stopped"


def test_create_answers_at_once_and_lists_the_instance_when_done(api: Api) -> None:
    body = {"app": "example", "name": "charlie", "instance_id": ID_C, "env": {"MODE": "x"}}
    r = api.call("POST", f"{BASE}/instances", json=body)
    assert r.status_code == 202
    assert r.json()["instance_id"] == ID_C and r.json()["operation"]["command"] == "create"
    op = api.wait(r.json()["operation"]["id"])
    assert op["state"] == "done" and op["result"]["id"] == ID_C
    names = [row["name"] for row in api.call("GET", f"{BASE}/instances").json()]
    assert "charlie" in names  # the daemon read the registry before the operation said done


def test_a_create_the_api_can_refuse_at_once_makes_nothing(api: Api) -> None:
    before = api.state()
    assert api.call("POST", f"{BASE}/instances", json={"app": "nope"}).status_code == 404
    taken = {"app": "example", "instance_id": ID_A}
    assert api.call("POST", f"{BASE}/instances", json=taken).status_code == 409
    bad_id = {"app": "example", "instance_id": "../../etc"}
    assert api.call("POST", f"{BASE}/instances", json=bad_id).status_code == 422
    assert api.state() == before


def test_clone_makes_a_new_instance_and_delete_removes_one(api: Api) -> None:
    r = api.call("POST", f"{BASE}/instances/{ID_A}/clone", json={"name": "copy"})
    op = api.wait(r.json()["operation"]["id"])
    assert op["state"] == "done", op
    new = r.json()["instance_id"]
    assert api.call("GET", f"{BASE}/instances/{new}").json()["name"] == "copy"
    gone = api.call("DELETE", f"{BASE}/instances/{new}", params={"purge": "true"})
    assert gone.status_code == 200 and gone.json()["command"] == "delete"
    assert api.call("GET", f"{BASE}/instances/{new}").status_code == 404


def test_a_delayed_action_takes_its_options_from_the_table(api: Api) -> None:
    api.call("POST", f"{BASE}/instances/{ID_A}/start")
    r = api.call("POST", f"{BASE}/instances/{ID_A}/delayed-restart", json={"warn": "1m"})
    assert r.status_code == 200 and r.json()["data"]["warn"] == 60
    assert f"warlock-delayed-{ID_A}.service" in api.world.mem.transient
    for wrong in ({"warn": 60}, {"warn": "1m", "wait": True}, {"bogus": 1}):
        r = api.call("POST", f"{BASE}/instances/{ID_A}/delayed-stop", json=wrong)
        assert r.status_code == 422, wrong
        assert set(r.json()) >= {"error", "hint"}


def test_settings_are_read_and_set_with_the_command_lines_checks(api: Api) -> None:
    rows = api.call("GET", f"{BASE}/instances/{ID_A}/settings", key="read").json()
    assert "Max Players" in [r["option"] for r in rows]
    r = api.call("PUT", f"{BASE}/instances/{ID_A}/settings/Max Players", json={"value": 8})
    assert r.status_code == 200 and r.json()["data"]["new"] == 8
    before = api.state()
    bad = api.call("PUT", f"{BASE}/instances/{ID_A}/settings/Max Players", json={"value": "lots"})
    assert bad.status_code == 400 and "whole number" in bad.json()["error"]
    unknown = api.call("PUT", f"{BASE}/instances/{ID_A}/settings/Nope", json={"value": 1})
    assert unknown.status_code in (400, 404)
    assert api.state() == before


def test_backups_are_listed_made_downloaded_and_restored(api: Api) -> None:
    saves = data_dir(api.world.host.registry.get(ID_A))
    (saves / "world.json").write_text('{"tick": 1}')
    r = api.call("POST", f"{BASE}/instances/{ID_A}/backups", key="operate", json={})
    assert r.status_code == 202
    assert api.wait(r.json()["operation"]["id"])["state"] == "done"
    listed = api.call("GET", f"{BASE}/instances/{ID_A}/backups", key="read").json()
    assert len(listed) == 1 and listed[0]["where"] == "local"
    name = listed[0]["name"]
    got = api.call("GET", f"{BASE}/instances/{ID_A}/backups/{name}", key="operate")
    assert got.status_code == 200 and got.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(got.content), mode="r:gz") as tar:
        assert "world.json" in tar.getnames()
    (saves / "world.json").write_text('{"tick": 99}')
    r = api.call("POST", f"{BASE}/instances/{ID_A}/backups/{name}/restore", json={})
    assert api.wait(r.json()["operation"]["id"])["state"] == "done"
    assert json.loads((saves / "world.json").read_text()) == {"tick": 1}


@pytest.mark.parametrize(
    "name",
    ["%2E%2E", "...", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", ".hidden", "x y", "a" * 300],
)
def test_a_backup_name_the_listing_does_not_hold_is_refused(api: Api, name: str) -> None:
    before = api.state()
    for method, suffix in (("GET", ""), ("POST", "/restore")):
        r = api.call(method, f"{BASE}/instances/{ID_A}/backups/{name}{suffix}")
        assert r.status_code in (400, 404, 405), (name, r.status_code)
        assert "error" in r.json()
    assert api.state() == before


def test_another_instances_backup_is_not_this_ones(api: Api) -> None:
    r = api.call("POST", f"{BASE}/instances/{ID_B}/backups")
    api.wait(r.json()["operation"]["id"])
    other = api.call("GET", f"{BASE}/instances/{ID_B}/backups").json()[0]["name"]
    r = api.call("POST", f"{BASE}/instances/{ID_A}/backups/{other}/restore")
    assert r.status_code == 404


def test_the_metrics_history_is_downsampled_to_the_points_asked(api: Api) -> None:
    now = time.time()
    assert api.daemon.store is not None
    api.daemon.store.add_samples(
        Sample(ID_A, now - 600 + i, "running", cpu_percent=float(i % 10), players=i % 7)
        for i in range(600)
    )
    got = api.call("GET", f"{BASE}/instances/{ID_A}/metrics", params={"since": "15m", "points": 5})
    data = got.json()
    assert got.status_code == 200 and 1 <= len(data["samples"]) <= 6
    assert all(s["players"] == 6 for s in data["samples"])
    assert api.call("GET", f"{BASE}/instances/{ID_A}/metrics?since=soon").status_code == 422


def test_downsampling_keeps_peaks_of_players_and_means_of_the_rest() -> None:
    rows = [
        {"ts": float(t), "status": "running", "cpu_percent": float(t), "memory_bytes": 10,
         "tasks": None, "disk_bytes": None, "players": t % 3, "max_players": 8}
        for t in range(10)
    ]  # fmt: skip
    step, points = downsample(rows, 0.0, 10.0, 2)
    assert step == 5.0 and [p["cpu_percent"] for p in points] == [2.0, 7.0]
    assert [p["players"] for p in points] == [2, 2] and points[0]["tasks"] is None


def test_the_event_log_shows_only_what_the_caller_may_see(api: Api) -> None:
    api.call("POST", f"{BASE}/instances/{ID_A}/start")
    api.call("POST", f"{BASE}/instances/{ID_B}/start")
    api.pump()
    every = api.call("GET", f"{BASE}/events", params={"since": "1h"}).json()
    assert {ID_A, ID_B} <= {e["instance_id"] for e in every}
    mine = api.call("GET", f"{BASE}/events", key="only-a", params={"since": "1h"}).json()
    assert mine and {e["instance_id"] for e in mine} == {ID_A}
    started = api.call("GET", f"{BASE}/events", params={"kind": "started", "instance": ID_B})
    assert [e["kind"] for e in started.json()] == ["started"]
    assert (
        api.call("GET", f"{BASE}/events", key="only-a", params={"instance": ID_B}).status_code
        == 404
    )


def test_every_state_changing_request_is_recorded_with_who_made_it(api: Api) -> None:
    api.call("POST", f"{BASE}/instances/{ID_A}/start", key="operate")
    api.call("POST", f"{BASE}/instances/{ID_A}/stop", key="read")  # refused: recorded too
    api.call("POST", f"{BASE}/instances/{ID_A}/stop", key="wrong")
    assert api.daemon.store is not None
    found = [e for e in api.daemon.store.events(0) if e.kind == "api"]
    said = [(e.data["who"], e.data["status"], e.instance_id) for e in found]
    assert ("key:operate", 200, ID_A) in said
    assert ("key:read", 403, ID_A) in said
    assert ("anonymous", 401, ID_A) in said
    refused = next(e for e in found if e.data["status"] == 401)
    assert refused.data["claimed"] == "key-id:" + "0" * 16


def test_prometheus_metrics_are_the_textfiles_gauges(api: Api) -> None:
    api.call("POST", f"{BASE}/instances/{ID_A}/start")
    api.pump()
    api.daemon.sample(disk=False)
    r = api.call("GET", "/metrics", key="read")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    gauges = parse_prometheus(r.text)
    up = {dict(labels)["instance_id"]: v for (name, labels), v in gauges.items()
          if name == "warlock_instance_up"}  # fmt: skip
    assert up == {ID_A: 1.0, ID_B: 0.0}
    only = parse_prometheus(api.call("GET", "/metrics", key="only-a").text)
    assert {dict(labels)["instance_id"] for (_, labels) in only} == {ID_A}


def test_apps_are_the_manifests(api: Api) -> None:
    apps = api.call("GET", f"{BASE}/apps", key="read").json()
    assert "example" in [a["slug"] for a in apps]
    one = api.call("GET", f"{BASE}/apps/example", key="read").json()
    assert one["ports"][0]["key"] == "game" and one["settings"]
    assert api.call("GET", f"{BASE}/apps/nope", key="read").status_code == 404


def test_a_console_command_reaches_the_game(api: Api) -> None:
    fifo = data_dir(api.world.host.registry.get(ID_A)) / "console"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        r = api.call("POST", f"{BASE}/instances/{ID_A}/console", json={"command": "say hi"})
        assert r.status_code == 200 and os.read(reader, 100) == b"say hi\n"
    finally:
        os.close(reader)
    stopped = api.call("POST", f"{BASE}/instances/{ID_B}/console", json={"command": "say hi"})
    assert stopped.status_code == 409 and stopped.json()["hint"] == "is it running?"


def test_keys_made_through_the_api_work_at_once_and_stop_when_revoked(api: Api) -> None:
    r = api.call("POST", f"{BASE}/keys", json={"name": "ci", "scope": "operate"})
    assert r.status_code == 201 and r.json()["key"].startswith("wlk_")
    made = {"Authorization": f"Bearer {r.json()['key']}"}
    assert api.client.get(f"{BASE}/instances", headers=made).status_code == 200
    assert "ci" in [k["name"] for k in api.call("GET", f"{BASE}/keys").json()]
    assert api.call("DELETE", f"{BASE}/keys/ci").status_code == 200
    assert api.client.get(f"{BASE}/instances", headers=made).status_code == 401
    assert api.call("POST", f"{BASE}/keys", key="only-a", json={"name": "x"}).status_code == 403


def test_users_are_added_their_password_changed_and_removed_by_an_admin(api: Api) -> None:
    body = {"name": "dana", "password": "a long password", "scope": "operate"}
    r = api.call("POST", f"{BASE}/users", json=body)
    assert r.status_code == 201 and r.json()["scope"] == "operate" and "stamp" not in r.json()
    short = api.call("POST", f"{BASE}/users", json=body | {"name": "eve", "password": "short"})
    assert short.status_code == 400
    again = api.call("PUT", f"{BASE}/users/dana/password", json={"password": "another one!"})
    assert again.status_code == 200
    assert api.call("DELETE", f"{BASE}/users/dana").status_code == 200
    assert "dana" not in [u["name"] for u in api.call("GET", f"{BASE}/users").json()]


def test_errors_are_json_with_a_hint_and_never_a_traceback(api: Api) -> None:
    cases = [
        api.call("GET", "/nothing/here"),
        api.call("DELETE", f"{BASE}/apps"),
        api.call("POST", f"{BASE}/instances", content=b"{not json",
                 headers={"content-type": "application/json"}),
        api.call("POST", f"{BASE}/instances", json={"app": 5}),
        api.call("POST", f"{BASE}/instances", json={"app": "example", "colour": "red"}),
        api.call("GET", f"{BASE}/events", params={"since": "yesterday"}),
    ]  # fmt: skip
    assert [r.status_code for r in cases] == [404, 405, 422, 422, 422, 422]
    for r in cases:
        assert set(r.json()) >= {"error", "hint"} and "Traceback" not in r.text


def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    before = api.state()
    big = b'{"app": "' + b"x" * (2 << 20) + b'"}'
    r = api.call("POST", f"{BASE}/instances", content=big,
                 headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert api.state() == before


def test_the_openapi_document_is_served_to_a_caller_with_a_key(api: Api) -> None:
    assert api.client.get(f"{BASE}/openapi.json").status_code == 401
    doc = api.call("GET", f"{BASE}/openapi.json", key="read").json()
    assert (
        doc["openapi"].startswith("3.")
        and f"{BASE}/instances/{{instance_id}}/start" in doc["paths"]
    )
    assert f"{BASE}/instances/{{instance_id}}/delayed-stop" in doc["paths"]


def test_a_flood_of_refused_requests_is_recorded_up_to_a_budget_then_counted(api: Api) -> None:
    from warlockd.web.auth import AuditEntry

    def refused(ts: float, path: str = f"{BASE}/instances") -> AuditEntry:
        return AuditEntry(ts, "anonymous", None, None, "POST", path, 401, "10.0.0.9", None)

    for n in range(50):
        api.server.record(refused(1000.0 + n * 0.01))
    api.server.record(refused(1070.0, f"{BASE}/x\nforged: line"))
    assert api.daemon.store is not None
    found = [e.message for e in api.daemon.store.events(0) if e.kind == "api"]
    assert len(found) == 30 + 2 and "20 more refused requests" in found[-2]
    assert found[-1].endswith("/x\\nforged: line -> 401")  # one line, whatever the path
