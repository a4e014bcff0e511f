"""Every route of the HTTP API, called without a key, with a wrong, a revoked or a too-weak
one, and with a key limited to another instance: 401, 403 or 404, and nothing changed.
Sessions: the CSRF token and the same-site checks; logins slowed down; no listening beyond
loopback without TLS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.harness.container import free_port
from tests.unit.support import ID_A, ID_B, World
from tests.unit.web_support import BASE, PASSWORD, Api, make_api
from warlockd.config import Config
from warlockd.errors import WarlockError
from warlockd.web.server import WebServer, reconcile
from warlockd.web.settings import ApiSettings

# A body each route takes, so that only the credentials can be wrong.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{BASE}/instances"): {"app": "example"},
    ("PUT", f"{BASE}/instances/{{instance_id}}/settings/{{option}}"): {"value": 8},
    ("POST", f"{BASE}/instances/{{instance_id}}/console"): {"command": "say hi"},
    ("POST", f"{BASE}/keys"): {"name": "another"},
    ("POST", f"{BASE}/users"): {"name": "zed", "password": "long enough pw"},
    ("PUT", f"{BASE}/users/{{name}}/password"): {"password": "long enough pw"},
    ("POST", f"{BASE}/login"): {"name": "root", "password": PASSWORD},
    ("POST", f"{BASE}/login/key"): {"key": "wlk_" + "0" * 16 + "_" + "A" * 43},
    ("POST", f"{BASE}/instances/{{instance_id}}/schedules"): {
        "task": "backup",
        "on_calendar": "*-*-* 05:00",
    },
}
PARAMS = {"option": "Max Players", "operation_id": "op_0", "app": "example",
          "schedule_id": "0badc0de"}  # fmt: skip
LOGINS = {f"{BASE}/login", f"{BASE}/login/key"}  # the ways in: no credentials yet
SESSION = LOGINS | {f"{BASE}/logout", f"{BASE}/session"}  # the way in, and out
HOST_WIDE = {f"{BASE}/instances", f"{BASE}/keys", f"{BASE}/users"}


@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return make_api(world, tmp_path)


def routes(api: Api) -> Iterator[tuple[str, str, APIRoute]]:
    for route in api.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, route.path, route


def url(path: str, instance: str, name: str = "x-backup.tar.gz") -> str:
    params = PARAMS | {"instance_id": instance, "name": name}
    return path.format(**params)


def _name(path: str) -> str:
    if path.startswith(f"{BASE}/keys"):
        return "read"
    return "viewer" if path.startswith(f"{BASE}/users") else "x-backup.tar.gz"


def call(api: Api, method: str, path: str, key: str | None, instance: str = ID_A) -> Any:
    body = BODIES.get((method, path))
    return api.call(method, url(path, instance, _name(path)), key=key, json=body)


@pytest.mark.parametrize("key", [None, "wrong", "revoked", "malformed"])
def test_every_route_refuses_a_caller_without_a_valid_key(api: Api, key: str | None) -> None:
    if key == "malformed":
        api.keys["malformed"] = "not-a-key"
    before = api.state()
    assert len(list(routes(api))) >= 39
    for method, path, _ in routes(api):
        if path in LOGINS:
            continue
        r = call(api, method, path, key)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert set(r.json()) == {"error", "hint"}
    assert api.state() == before


def test_a_read_key_may_look_but_not_act(api: Api) -> None:
    before = api.state()
    acting = [(m, p) for m, p, _ in routes(api) if m != "GET" and p not in SESSION]
    assert len(acting) > 15
    for method, path in acting:
        r = call(api, method, path, "read")
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "scope read" in r.json()["error"]
    assert api.state() == before


def test_an_operate_key_may_not_create_delete_or_manage_access(api: Api) -> None:
    before = api.state()
    admin_only = [
        ("POST", f"{BASE}/instances"), ("DELETE", f"{BASE}/instances/{{instance_id}}"),
        ("POST", f"{BASE}/instances/{{instance_id}}/clone"), ("GET", f"{BASE}/keys"),
        ("POST", f"{BASE}/keys"), ("DELETE", f"{BASE}/keys/{{name}}"), ("GET", f"{BASE}/users"),
        ("POST", f"{BASE}/users"), ("DELETE", f"{BASE}/users/{{name}}"),
    ]  # fmt: skip
    for method, path in admin_only:
        assert call(api, method, path, "operate").status_code == 403, (method, path)
    assert api.state() == before


def test_a_key_limited_to_one_instance_is_told_the_others_do_not_exist(api: Api) -> None:
    before = api.state()
    for method, path, _ in routes(api):
        if "{instance_id}" not in path:
            continue
        r = call(api, method, path, "only-a", instance=ID_B)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"] == f"no instance {ID_B}"  # the registry's own words
    for method, path in [("POST", p) for p in HOST_WIDE] + [("GET", f"{BASE}/keys")]:
        assert call(api, method, path, "only-a").status_code == 403, path
    assert api.state() == before
    listed = api.call("GET", f"{BASE}/instances", key="only-a").json()
    assert [row["id"] for row in listed] == [ID_A]
    stream = api.call("GET", f"{BASE}/events/stream", key="only-a", params={"instance": ID_B})
    assert stream.status_code == 404


def _login(api: Api, name: str = "root") -> str:
    r = api.client.post(f"{BASE}/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    token: str = r.json()["csrf_token"]
    return token


def test_a_session_must_send_its_csrf_token_with_every_change(api: Api) -> None:
    token = _login(api)
    start = f"{BASE}/instances/{ID_A}/start"
    assert api.client.get(f"{BASE}/instances").status_code == 200  # reading needs none
    before = api.state()
    assert api.client.post(start).status_code == 403
    assert api.client.post(start, headers={"X-CSRF-Token": "forged"}).status_code == 403
    cross = {"X-CSRF-Token": token, "Origin": "https://evil.example"}
    assert api.client.post(start, headers=cross).status_code == 403
    fetch = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    assert api.client.post(start, headers=fetch).status_code == 403
    assert api.state() == before
    same = {"X-CSRF-Token": token, "Origin": "http://127.0.0.1:8077"}
    assert api.client.post(start, headers=same).status_code == 200
    assert api.client.post(f"{BASE}/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert api.client.get(f"{BASE}/instances").status_code == 401


def test_a_read_user_may_look_but_not_act(api: Api) -> None:
    token = _login(api, "viewer")
    r = api.client.post(f"{BASE}/instances/{ID_A}/start", headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    assert api.client.get(f"{BASE}/session").json()["who"] == "user:viewer"


def test_guessing_passwords_is_slowed_down_and_a_right_one_waits_too(api: Api) -> None:
    codes = []
    for _ in range(8):
        r = api.client.post(f"{BASE}/login", json={"name": "root", "password": "guess1234"})
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5 and 429 in codes, codes
    limited = api.client.post(f"{BASE}/login", json={"name": "root", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert set(limited.json()) == {"error", "hint"}


def test_it_refuses_to_listen_beyond_loopback_without_tls(api: Api) -> None:
    port = free_port()
    server = WebServer(api.daemon, ApiSettings(listen="0.0.0.0", port=port))
    with pytest.raises(WarlockError, match=r"refusing to listen on 0\.0\.0\.0"):
        server.start()
    api.daemon.config = Config(prometheus_dir=None, api=ApiSettings(listen="0.0.0.0", port=port))
    assert reconcile(api.daemon, None) is None  # logged; the daemon goes on watching
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there
