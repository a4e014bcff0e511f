from __future__ import annotations

import json
import os
import stat
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest

from warlockd.web.sessions import (
    ABSOLUTE,
    IDLE,
    SessionStore,
    clear_cookie,
    cookie_name,
    csrf_ok,
    csrf_token,
    session_cookie,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def parse(header: str) -> dict[str, Any]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    [(name, morsel)] = jar.items()
    return {"name": name, "value": morsel.value} | {k: v for k, v in morsel.items() if v}


def test_the_cookie_is_httponly_samesite_strict_on_path_slash_and_not_secure_in_clear() -> None:
    c = parse(session_cookie("tok", tls=False))
    assert c["name"] == "warlock_session" and c["value"] == "tok"
    assert c["httponly"] is True and c["samesite"] == "Strict" and c["path"] == "/"
    assert "secure" not in c  # a browser would drop a Secure cookie sent over http
    assert c["max-age"] == str(int(ABSOLUTE))


def test_under_tls_the_cookie_is_secure_and_host_prefixed() -> None:
    c = parse(session_cookie("tok", tls=True))
    assert c["name"] == "__Host-warlock_session" == cookie_name(True)
    assert c["secure"] is True and c["httponly"] is True and c["samesite"] == "Strict"
    assert "domain" not in c  # __Host- forbids it


def test_logout_expires_the_cookie() -> None:
    c = parse(clear_cookie(tls=True))
    assert c["value"] == "" and c["max-age"] == "0"


def test_a_session_lives_while_used_and_ends_after_idle_time() -> None:
    clock = Clock()
    ss = SessionStore(clock=clock)
    session, token = ss.create("alice", "stamp", "192.0.2.7")
    for _ in range(3):
        clock.now += IDLE - 1
        assert ss.get(token) == session._replace(last_seen=clock.now)
    clock.now += IDLE + 1
    assert ss.get(token) is None
    assert ss.get(token) is None  # and it is gone


def test_a_session_ends_after_its_absolute_lifetime_however_busy() -> None:
    clock = Clock()
    ss = SessionStore(clock=clock, idle=600, absolute=3600)
    _, token = ss.create("alice", "s")
    while clock.now < 1_700_000_000.0 + 3600:
        assert ss.get(token) is not None
        clock.now += 300
    assert ss.get(token) is None


def test_logout_destroys_the_session() -> None:
    ss = SessionStore()
    _, token = ss.create("alice", "s")
    _, other = ss.create("alice", "s")
    assert ss.destroy(token) is True and ss.destroy(token) is False
    assert ss.get(token) is None and ss.get(other) is not None


@pytest.mark.parametrize("token", [None, "", "x", "A" * 42, "A" * 44, "é" * 43, "A" * 42 + "\n"])
def test_malformed_tokens_are_nobody(token: str | None) -> None:
    ss = SessionStore()
    ss.create("alice", "s")
    assert ss.get(token) is None and ss.destroy(token) is False


def test_each_session_has_its_own_csrf_token_which_is_not_the_cookie() -> None:
    ss = SessionStore()
    _, t1 = ss.create("alice", "s")
    _, t2 = ss.create("alice", "s")
    c1, c2 = csrf_token(t1), csrf_token(t2)
    assert c1 != c2 and t1 not in c1 and len(c1) >= 43
    assert csrf_ok(t1, c1) and not csrf_ok(t1, c2) and not csrf_ok(t1, None)
    assert not csrf_ok(t1, "") and not csrf_ok(t1, "é")


def test_sessions_survive_a_restart_but_only_their_hashes_are_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    clock = Clock()
    old = os.umask(0)
    try:
        _, token = SessionStore(path, clock=clock).create("alice", "s", "192.0.2.7")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text()
    assert token not in raw and csrf_token(token) not in raw
    clock.now += 60
    restarted = SessionStore(path, clock=clock)
    s = restarted.get(token)
    assert s is not None and s.user == "alice"


def test_a_logout_reaches_the_disk_before_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    ss = SessionStore(path)
    _, token = ss.create("alice", "s")
    ss.destroy(token)
    assert SessionStore(path).get(token) is None
    assert json.loads(path.read_text())["sessions"] == []


def test_expired_sessions_are_not_brought_back_by_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    clock = Clock()
    _, token = SessionStore(path, clock=clock).create("alice", "s")
    clock.now += IDLE + 1
    assert SessionStore(path, clock=clock).get(token) is None


def test_a_failed_write_removes_the_file_rather_than_leave_it_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sessions.json"
    ss = SessionStore(path)
    _, token = ss.create("alice", "s")

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("warlockd.fsutil.os.replace", crash)
    assert ss.destroy(token) is True
    monkeypatch.undo()
    assert not path.exists()
    assert SessionStore(path).get(token) is None


def test_idle_times_are_written_at_most_once_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    clock = Clock()
    ss = SessionStore(path, clock=clock)
    _, token = ss.create("alice", "s")
    writes = 0
    for _ in range(24):  # a request every 5 s for two minutes
        clock.now += 5
        before = path.stat().st_ino  # in use until the rename: a write's inode differs
        ss.get(token)
        writes += path.stat().st_ino != before
    assert writes == 2


def test_the_table_is_bounded_per_user_and_in_all() -> None:
    ss = SessionStore(per_user=3, cap=5)
    alice = [ss.create("alice", "s")[1] for _ in range(4)]
    assert ss.get(alice[0]) is None and all(ss.get(t) for t in alice[1:])
    others = [ss.create(f"u{i}", "s")[1] for i in range(4)]
    assert len(ss.sessions()) == 5 and all(ss.get(t) for t in others)


def test_a_user_can_be_logged_out_everywhere() -> None:
    ss = SessionStore()
    tokens = [ss.create("alice", "s")[1] for _ in range(3)]
    _, bob = ss.create("bob", "s")
    assert ss.destroy_user("alice") == 3
    assert not any(ss.get(t) for t in tokens) and ss.get(bob) is not None
