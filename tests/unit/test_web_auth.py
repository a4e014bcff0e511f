"""The auth glue, attacked through a tiny FastAPI app with Starlette's TestClient."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from tests.unit.support import ID_A, ID_B, ID_C, REPO
from warlockd.web.auth import CSRF_HEADER, AuditEntry, Auth, install
from warlockd.web.keys import KeyStore
from warlockd.web.principal import Principal, Scope, no_instance
from warlockd.web.ratelimit import LoginLimiter
from warlockd.web.sessions import IDLE, SessionStore
from warlockd.web.users import UserStore, make_hasher

INSTANCES = [ID_A, ID_B]  # ID_C does not exist
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Login(BaseModel):
    name: str
    password: str


@dataclass
class Demo:
    tmp: Path
    tls: bool = False
    clock: Clock = field(default_factory=Clock)
    audit: list[AuditEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.tmp / "api-keys.json", clock=self.clock)
        self.users = UserStore(self.tmp / "users.json", hasher=make_hasher(1, 8, 1))
        self.sessions = SessionStore(self.tmp / "sessions.json", clock=self.clock)
        limiter = LoginLimiter(clock=self.clock)
        self.auth = Auth(self.keys, self.users, self.sessions, limiter, tls=self.tls)
        self.app = build_app(self.auth, self.audit.append)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=f"http{'s' if self.tls else ''}://testserver")

    def key(self, scope: Scope, instances: list[str] | None = None) -> dict[str, str]:
        _, text = self.keys.create(f"k{len(self.keys.list(True))}", scope, instances)
        return {"Authorization": f"Bearer {text}"}

    def login(self, client: TestClient, name: str = "alice") -> Any:
        if self.users.get(name) is None:
            self.users.add(name, PASSWORD, Scope.OPERATE)
        return client.post("/api/login", json={"name": name, "password": PASSWORD})


def build_app(auth: Auth, record: Callable[[AuditEntry], None]) -> FastAPI:
    app = FastAPI()
    install(app, record)
    # FastAPI 0.92 predates Annotated[..., Depends()]: the defaults are made once, here
    read, operate = Depends(auth.require(Scope.READ)), Depends(auth.require(Scope.OPERATE))

    @app.get("/api/instances")
    def listing(p: Principal = read) -> dict[str, Any]:
        return {"instances": p.visible(INSTANCES)}

    @app.get("/api/instances/{instance_id}")
    def show(instance_id: str, p: Principal = read) -> dict[str, Any]:
        if instance_id not in INSTANCES:
            raise no_instance(instance_id)
        return {"id": instance_id}

    @app.post("/api/instances/{instance_id}/start")
    def start(instance_id: str, p: Principal = operate) -> dict[str, Any]:
        if instance_id not in INSTANCES:
            raise no_instance(instance_id)
        return {"started": instance_id, "by": p.who}

    @app.post("/api/login")
    def login(request: Request, body: Login) -> Response:
        return auth.login(request, body.name, body.password)

    @app.post("/api/logout")
    def logout(request: Request) -> Response:
        return auth.logout(request)

    @app.get("/api/session")
    def session(request: Request) -> dict[str, Any]:
        return auth.session_info(request)

    return app


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return Demo(tmp_path)


def refused(r: Any, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "hint"} and error in body["error"]


# -- API keys ---------------------------------------------------------------------------------
def test_fastapis_test_client_works_here(demo: Demo) -> None:
    r = demo.client().get("/api/instances", headers=demo.key(Scope.READ))
    assert r.status_code == 200 and r.json() == {"instances": INSTANCES}


def test_no_credentials_is_401_with_www_authenticate_bearer(demo: Demo) -> None:
    r = demo.client().get("/api/instances")
    refused(r, 401, "authentication required")
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wlk_0123456789abcdef_" + "A" * 43,  # well-formed, unknown
        "Bearer wlk_x",
        "Bearer not-a-key",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6cGFzcw==",
        "wlk_0123456789abcdef_" + "A" * 43,  # no scheme
    ],
)
def test_a_wrong_or_malformed_key_is_401(demo: Demo, header: str) -> None:
    demo.key(Scope.ADMIN)
    r = demo.client().post(f"/api/instances/{ID_A}/start", headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert set(r.json()) == {"error", "hint"}


def test_a_wrong_key_does_not_fall_back_to_the_session_cookie(demo: Demo) -> None:
    c = demo.client()
    demo.login(c)
    r = c.get("/api/instances", headers={"Authorization": "Bearer wlk_nope"})
    assert r.status_code == 401


def test_a_key_revoked_by_another_process_is_refused_at_its_next_request(demo: Demo) -> None:
    headers = demo.key(Scope.OPERATE)
    c = demo.client()
    assert c.post(f"/api/instances/{ID_A}/start", headers=headers).status_code == 200
    code = "import sys; from pathlib import Path; from warlockd.web.keys import KeyStore; "
    code += "KeyStore(Path(sys.argv[1])).revoke('k0')"
    subprocess.run(
        [sys.executable, "-c", code, str(demo.tmp / "api-keys.json")], cwd=REPO, check=True
    )
    refused(c.post(f"/api/instances/{ID_A}/start", headers=headers), 401, "revoked")


def test_a_read_key_on_an_operate_route_is_403(demo: Demo) -> None:
    r = demo.client().post(f"/api/instances/{ID_A}/start", headers=demo.key(Scope.READ))
    refused(r, 403, "has scope read; this needs operate")


def test_a_key_scoped_to_instance_a_gets_404_for_b_worded_as_for_a_missing_one(
    demo: Demo,
) -> None:
    c = demo.client()
    scoped = demo.key(Scope.OPERATE, [ID_A])
    everything = demo.key(Scope.OPERATE)
    assert c.post(f"/api/instances/{ID_A}/start", headers=scoped).status_code == 200
    hidden = c.post(f"/api/instances/{ID_B}/start", headers=scoped)
    missing = c.post(f"/api/instances/{ID_C}/start", headers=everything)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {
        "error": f"no instance {ID_B}",
        "hint": "`manage.py list` shows the instances",
    }
    assert missing.json() == hidden.json() | {"error": f"no instance {ID_C}"}
    assert c.get(f"/api/instances/{ID_B}", headers=scoped).status_code == 404
    assert c.get("/api/instances", headers=scoped).json() == {"instances": [ID_A]}


def test_a_scoped_read_key_asking_to_operate_a_hidden_instance_gets_404_not_403(
    demo: Demo,
) -> None:
    r = demo.client().post(f"/api/instances/{ID_B}/start", headers=demo.key(Scope.READ, [ID_A]))
    assert r.status_code == 404


def test_bearer_requests_need_no_csrf_token_even_from_another_origin(demo: Demo) -> None:
    headers = demo.key(Scope.OPERATE) | {"Origin": "https://evil.example"}
    assert demo.client().post(f"/api/instances/{ID_A}/start", headers=headers).status_code == 200


# -- sessions ---------------------------------------------------------------------------------
def test_login_sets_an_httponly_samesite_strict_cookie_not_secure_in_clear(demo: Demo) -> None:
    c = demo.client()
    r = demo.login(c)
    assert r.status_code == 200 and r.json()["user"] == "alice"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("warlock_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert r.headers["cache-control"] == "no-store"
    assert c.get("/api/instances").status_code == 200  # the cookie is the credential


def test_under_tls_the_session_cookie_is_secure_and_host_prefixed(tmp_path: Path) -> None:
    demo = Demo(tmp_path, tls=True)
    c = demo.client()
    r = demo.login(c)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-warlock_session=") and "; Secure" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/api/instances").status_code == 200
    csrf = {CSRF_HEADER: r.json()["csrf_token"], "Origin": "https://testserver"}
    assert c.post(f"/api/instances/{ID_A}/start", headers=csrf).status_code == 200


def test_a_post_with_a_session_and_no_or_a_wrong_csrf_token_is_refused(demo: Demo) -> None:
    c = demo.client()
    mine = demo.login(c).json()["csrf_token"]
    other = demo.login(demo.client(), "bob").json()["csrf_token"]
    url = f"/api/instances/{ID_A}/start"
    refused(c.post(url), 403, CSRF_HEADER)
    for wrong in ["", "x", other, mine[:-1], mine + "A"]:
        refused(c.post(url, headers={CSRF_HEADER: wrong}), 403, CSRF_HEADER)
    r = c.post(url, headers={CSRF_HEADER: mine})
    assert r.status_code == 200 and r.json()["by"] == "user:alice"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # e.g. a game's web page on another port
    ],
)
def test_a_cross_site_post_with_a_session_is_refused_even_with_the_token(
    demo: Demo, headers: dict[str, str]
) -> None:
    c = demo.client()
    csrf = demo.login(c).json()["csrf_token"]
    r = c.post(f"/api/instances/{ID_A}/start", headers=headers | {CSRF_HEADER: csrf})
    refused(r, 403, "cross-site request refused")


def test_a_same_origin_post_with_the_token_goes_through(demo: Demo) -> None:
    c = demo.client()
    csrf = demo.login(c).json()["csrf_token"]
    headers = {CSRF_HEADER: csrf, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert c.post(f"/api/instances/{ID_A}/start", headers=headers).status_code == 200


def test_the_page_can_fetch_its_csrf_token_again(demo: Demo) -> None:
    c = demo.client()
    csrf = demo.login(c).json()["csrf_token"]
    assert c.get("/api/session").json() == {
        "who": "user:alice",
        "scope": "operate",
        "csrf_token": csrf,
    }


def test_a_cross_site_login_is_refused(demo: Demo) -> None:
    demo.users.add("alice", PASSWORD)
    r = demo.client().post(
        "/api/login",
        json={"name": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    refused(r, 403, "cross-site")


def test_a_read_only_user_cannot_operate(demo: Demo) -> None:
    demo.users.add("root", PASSWORD)  # the first user, admin
    demo.users.add("viewer", PASSWORD)  # read
    c = demo.client()
    csrf = c.post("/api/login", json={"name": "viewer", "password": PASSWORD}).json()["csrf_token"]
    r = c.post(f"/api/instances/{ID_A}/start", headers={CSRF_HEADER: csrf})
    refused(r, 403, "user:viewer has scope read")


def test_login_brute_force_is_slowed_and_does_not_lock_out_another_user(demo: Demo) -> None:
    demo.users.add("alice", PASSWORD)
    demo.users.add("bob", PASSWORD)
    attacker = demo.client()
    statuses = [
        attacker.post("/api/login", json={"name": "alice", "password": f"guess {i}!"}).status_code
        for i in range(6)
    ]
    assert statuses == [401] * 6
    r = attacker.post("/api/login", json={"name": "alice", "password": "guess 7!"})
    refused(r, 429, "too many failed logins")
    assert r.headers["retry-after"] == "1"
    right = attacker.post("/api/login", json={"name": "alice", "password": PASSWORD})
    assert right.status_code == 429  # the right password during the lock-out: refused too
    bob = demo.client().post("/api/login", json={"name": "bob", "password": PASSWORD})
    assert bob.status_code == 200  # same address, another user
    demo.clock.now += 2
    ok = demo.client().post("/api/login", json={"name": "alice", "password": PASSWORD})
    assert ok.status_code == 200


def test_a_session_expires_after_its_idle_time(demo: Demo) -> None:
    c = demo.client()
    demo.login(c)
    demo.clock.now += IDLE - 10
    assert c.get("/api/instances").status_code == 200
    demo.clock.now += IDLE
    refused(c.get("/api/instances"), 401, "expired")


def test_logout_ends_the_session_and_the_old_cookie_stops_working(demo: Demo) -> None:
    c = demo.client()
    csrf = demo.login(c).json()["csrf_token"]
    stolen = dict(c.cookies)
    refused(c.post("/api/logout"), 403, CSRF_HEADER)  # logout is state-changing too
    r = c.post("/api/logout", headers={CSRF_HEADER: csrf})
    assert r.status_code == 200 and "Max-Age=0" in r.headers["set-cookie"]
    replay = demo.client()
    replay.cookies.update(stolen)
    refused(replay.get("/api/instances"), 401, "expired or ended")


def test_a_new_login_replaces_the_old_session(demo: Demo) -> None:
    c = demo.client()
    demo.login(c)
    old = dict(c.cookies)
    demo.login(c)
    replay = demo.client()
    replay.cookies.update(old)
    assert replay.get("/api/instances").status_code == 401


def test_a_new_password_or_removal_ends_the_users_sessions(demo: Demo) -> None:
    c, d = demo.client(), demo.client()
    demo.login(c)
    demo.login(d, "bob")
    demo.users.set_password("alice", "a brand new one")
    demo.users.remove("bob")
    refused(c.get("/api/instances"), 401, "ended")
    refused(d.get("/api/instances"), 401, "ended")


# -- the event log ----------------------------------------------------------------------------
def test_every_state_changing_request_is_recorded_with_who_made_it(demo: Demo) -> None:
    c = demo.client()
    key = demo.key(Scope.OPERATE)
    [made] = demo.keys.list()
    c.get("/api/instances", headers=key)  # reads are not recorded
    c.post(f"/api/instances/{ID_A}/start", headers=key)
    c.post(f"/api/instances/{ID_B}/start")
    demo.users.add("alice", PASSWORD)
    c.post("/api/login", json={"name": "alice", "password": "wrong password"})
    csrf = c.post("/api/login", json={"name": "alice", "password": PASSWORD}).json()["csrf_token"]
    c.post(f"/api/instances/{ID_B}/start", headers={CSRF_HEADER: csrf})
    seen = [(e.who, e.method, e.path, e.status, e.instance_id, e.claimed) for e in demo.audit]
    assert seen == [
        ("key:k0", "POST", f"/api/instances/{ID_A}/start", 200, ID_A, f"key-id:{made.id}"),
        ("anonymous", "POST", f"/api/instances/{ID_B}/start", 401, ID_B, None),
        ("anonymous", "POST", "/api/login", 401, None, "user:alice"),
        ("user:alice", "POST", "/api/login", 200, None, "user:alice"),
        ("user:alice", "POST", f"/api/instances/{ID_B}/start", 200, ID_B, "user:alice"),
    ]
    assert demo.audit[0].key_id == made.id and demo.audit[0].address == "testclient"


def test_a_failing_event_log_does_not_break_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(tmp_path)

    def broken(entry: AuditEntry) -> None:
        raise OSError("database is locked")

    demo.app = build_app(demo.auth, broken)
    r = demo.client().post(f"/api/instances/{ID_A}/start", headers=demo.key(Scope.OPERATE))
    assert r.status_code == 200
    assert "not recorded in the event log" in capsys.readouterr().err


def test_an_unreadable_key_file_fails_closed_with_a_json_500(demo: Demo) -> None:
    headers = demo.key(Scope.READ)
    (demo.tmp / "api-keys.json").chmod(0o644)
    r = demo.client().get("/api/instances", headers=headers)
    refused(r, 500, "not a root-only file")
