"""The dashboard's own security and its files: the shell's Content-Security-Policy and no
script or handler inline; every file the pages load is served (gzip, ETag) and nothing
else is; the session cookie's flags, a session from an API key, logout ending the session
for good; and what the pages call beside the API's first routes (schedules, the host's
totals, the ports a create would get)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.support import ID_A, ID_B, World
from tests.unit.web_support import BASE, ORIGIN, PASSWORD, Api, make_api
from warlockd.paths import web_static
from warlockd.web import routes_pages
from warlockd.web.keys import KeyStore

STATIC = web_static()
PAGES = ["/", "/login", "/new", "/admin", f"/instances/{ID_A}"]


@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return make_api(world, tmp_path)


def _login(api: Api, body: dict[str, str], path: str = "/login") -> tuple[str, str]:
    r = api.client.post(f"{BASE}{path}", json=body)
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf_token"]
    return r.headers["set-cookie"], token


def test_every_page_is_the_shell_under_a_strict_policy(api: Api) -> None:
    for page in PAGES:
        r = api.client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert ID_A not in r.text.replace(page, "")  # the shell holds no data
    assert api.client.get("/static/../app.py").status_code == 404


def test_no_script_style_or_handler_is_inline() -> None:
    html = (STATIC / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>(?!</script>)", html)  # nothing between the tags
    assert not re.search(r"\son[a-z]+\s*=", html) and "<style" not in html
    assert ' style="' not in html and "javascript:" not in html
    for js in STATIC.rglob("*.js"):
        text = js.read_text()
        # markup is never built from strings: text goes in as text (XSS), no eval (CSP)
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                       "eval(", "new Function", '"style"', "setAttribute(\"on"):  # fmt: skip
            assert banned not in text, (js.name, banned)


def test_every_file_a_page_loads_is_served_compressed_and_cached(api: Api) -> None:
    html = (STATIC / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    for js in STATIC.rglob("*.js"):  # the modules' own imports, static and dynamic
        for name in re.findall(r'"\./([\w.]+\.js)"', js.read_text()):
            wanted.add(f"/static/js/{name}")
    assert "/static/js/instance.js" in wanted and "/static/js/charts.js" in wanted
    for url in sorted(wanted):
        r = api.client.get(url, headers={"accept-encoding": "gzip"})
        assert r.status_code == 200, url
        assert r.headers["content-encoding"] == "gzip" and r.headers["etag"]
        again = api.client.get(url, headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    assert api.client.get("/static/js/nothing.js").status_code == 404
    assert api.client.get("/static/index.html").status_code == 404  # only as a page


def test_chart_js_comes_from_debian_s_package_and_never_a_cdn(tmp_path: Path) -> None:
    chart = tmp_path / "chart.min.js"
    chart.write_text("/*! Chart.js v3.9.1 */ window.Chart = function () {};")
    files = routes_pages.load(STATIC, chart)
    assert files[routes_pages.CHART_NAME].body == chart.read_bytes()
    assert routes_pages.CHART_NAME not in routes_pages.load(STATIC, tmp_path / "missing.js")
    for f in STATIC.rglob("*"):
        if f.is_file():
            assert not re.search(r"https?://", f.read_text()), f  # nothing fetched from outside
    sample = routes_pages.asset(b"x" * 1000, "text/plain")
    assert sample.gzipped is not None and gzip.decompress(sample.gzipped) == sample.body


def test_the_session_cookie_is_http_only_strict_and_secure_under_tls(api: Api) -> None:
    cookie, _ = _login(api, {"name": "root", "password": PASSWORD})
    flags = [f.strip() for f in cookie.split(";")]
    assert flags[0].startswith("warlock_session=") and "Path=/" in flags
    assert {"HttpOnly", "SameSite=Strict"} <= set(flags) and "Secure" not in flags
    users = api.server._ctx.auth.users  # the same users, served under TLS
    client = TestClient(api.server.app(tls=True, users=users), base_url="https://127.0.0.1:8077")
    r = client.post(f"{BASE}/login", json={"name": "root", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.headers["set-cookie"].startswith("__Host-warlock_session=")
    assert "Secure" in r.headers["set-cookie"]


def test_logout_ends_the_session_even_for_a_kept_cookie(api: Api) -> None:
    _, token = _login(api, {"name": "root", "password": PASSWORD})
    kept = dict(api.client.cookies)
    assert api.client.get(f"{BASE}/session").status_code == 200
    assert api.client.post(f"{BASE}/logout", headers={"X-CSRF-Token": token}).status_code == 200
    api.client.cookies.clear()
    api.client.cookies.update(kept)  # a copy of the cookie, as a thief would keep it
    assert api.client.get(f"{BASE}/session").status_code == 401
    assert api.client.get(f"{BASE}/instances").status_code == 401


def test_an_api_key_starts_a_session_that_ends_when_the_key_is_revoked(api: Api) -> None:
    cookie, token = _login(api, {"key": api.keys["operate"]}, "/login/key")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    who = api.client.get(f"{BASE}/session").json()
    assert who == {"who": "key:operate", "scope": "operate", "csrf_token": token}
    start = f"{BASE}/instances/{ID_A}/start"
    assert api.client.post(start).status_code == 403  # the session's CSRF rules hold
    assert api.client.post(start, headers={"X-CSRF-Token": token}).status_code == 200
    assert api.client.post(f"{BASE}/keys", json={"name": "x"},
                           headers={"X-CSRF-Token": token}).status_code == 403  # fmt: skip
    KeyStore(api.files.api_keys).revoke("operate")
    assert api.client.get(f"{BASE}/instances").status_code == 401


def test_a_wrong_or_revoked_key_logs_nobody_in_and_guessing_is_slowed(api: Api) -> None:
    for key in ("wrong", "revoked"):
        r = api.client.post(f"{BASE}/login/key", json={"key": api.keys[key]})
        assert r.status_code == 401 and "set-cookie" not in r.headers
    codes = [api.client.post(f"{BASE}/login/key", json={"key": api.keys["wrong"]}).status_code
             for _ in range(8)]  # fmt: skip
    assert 429 in codes, codes
    cross = api.client.post(f"{BASE}/login/key", json={"key": api.keys["admin"]},
                            headers={"Origin": "https://evil.example"})  # fmt: skip
    assert cross.status_code == 403


def test_a_key_limited_to_some_instances_keeps_its_limits_in_a_session(api: Api) -> None:
    _login(api, {"key": api.keys["only-a"]}, "/login/key")
    assert [r["id"] for r in api.client.get(f"{BASE}/instances").json()] == [ID_A]
    assert api.client.get(f"{BASE}/instances/{ID_B}").status_code == 404
    assert api.client.get(f"{BASE}/host").status_code == 403  # the host as a whole


def test_schedules_through_the_api(api: Api) -> None:
    base = f"{BASE}/instances/{ID_A}/schedules"
    made = api.call("POST", base, json={"task": "command", "text": "say hi",
                                        "on_calendar": "*-*-* 05:00"})  # fmt: skip
    assert made.status_code == 201, made.text
    sid = made.json()["data"]["id"]
    listed = api.call("GET", base, key="read").json()
    assert [(s["id"], s["task"], s["text"]) for s in listed] == [(sid, "command", "say hi")]
    assert [s["id"] for s in api.call("GET", f"{BASE}/schedules", key="read").json()] == [sid]
    assert api.call("POST", f"{base}/{sid}/pause").json()["data"]["done"] == "pause"
    assert api.call("GET", base).json()[0]["paused"] is True
    assert api.call("POST", f"{base}/{sid}/resume").status_code == 200
    run = api.call("POST", f"{base}/{sid}/run")
    assert run.status_code == 202
    assert api.wait(run.json()["operation"]["id"])["state"] in ("done", "failed")
    bad = api.call("POST", base, json={"task": "backup", "on_calendar": "not a time"})
    assert bad.status_code == 400 and "calendar" in bad.text, bad.text
    assert api.call("DELETE", f"{base}/{sid}").status_code == 200
    assert api.call("GET", base).json() == []


def test_another_instance_s_schedule_cannot_be_reached_through_one_s_path(api: Api) -> None:
    body = {"task": "backup", "on_calendar": "daily"}
    theirs = api.call("POST", f"{BASE}/instances/{ID_B}/schedules", json=body).json()["data"]["id"]
    before = api.state()
    for method, tail in (("POST", "pause"), ("POST", "resume"), ("POST", "run"), ("DELETE", "")):
        path = f"{BASE}/instances/{ID_A}/schedules/{theirs}" + (f"/{tail}" if tail else "")
        r = api.call(method, path, key="only-a")
        assert r.status_code == 404, (method, path, r.text)
    assert api.state() == before
    assert api.call("GET", f"{BASE}/schedules", key="only-a").json() == []


def test_the_host_s_totals_and_the_ports_a_create_would_get(api: Api) -> None:
    host = api.call("GET", f"{BASE}/host", key="read").json()
    assert host["cpus"] >= 1 and host["memory_total"] > host["memory_available"] > 0
    api.daemon.sample(disk=False)  # a sampling round streams the host too
    entries, _, _ = api.server.bus.after(api.server.bus.last_id - 3)
    assert "host" in {e.kind for e in entries}
    ports = api.call("GET", f"{BASE}/apps/example/ports").json()
    taken = {p["port"] for r in api.call("GET", f"{BASE}/instances").json() for p in r["ports"]}
    assert ports["game"] not in taken and ports["game"] >= 30000
    assert api.call("GET", f"{BASE}/apps/example/ports", key="operate").status_code == 403
    assert api.call("GET", f"{BASE}/apps/nothing/ports").status_code == 404
    assert ORIGIN.startswith("http://")
