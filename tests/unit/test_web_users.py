from __future__ import annotations

import io
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import ID_A
from warlockd.errors import Conflict, CorruptRecord, InvalidInput, NotFound
from warlockd.web.principal import Scope
from warlockd.web.users import UserStore, make_hasher, read_password

CHEAP = make_hasher(time_cost=1, memory_cost=8, parallelism=1)  # argon2id, fast for tests
PASSWORD = "correct horse battery"


def store(tmp_path: Path, hasher: Any = CHEAP) -> UserStore:
    return UserStore(tmp_path / "users.json", hasher=hasher)


def test_passwords_are_stored_as_argon2id_with_their_parameters(tmp_path: Path) -> None:
    store(tmp_path).add("alice", PASSWORD)
    raw = (tmp_path / "users.json").read_text()
    assert PASSWORD not in raw
    [row] = json.loads(raw)["users"]
    assert row["hash"].startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_the_default_parameters_are_rfc_9106s_second_choice() -> None:
    h = make_hasher().hash("x")
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_users_file_is_root_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store(tmp_path).add("alice", PASSWORD)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600


def test_the_first_user_is_admin_and_later_ones_read_unless_told(tmp_path: Path) -> None:
    us = store(tmp_path)
    assert us.add("alice", PASSWORD).scope is Scope.ADMIN
    assert us.add("bob", PASSWORD).scope is Scope.READ
    assert us.add("carol", PASSWORD, Scope.OPERATE, [ID_A]).instances == (ID_A,)
    assert [u.name for u in us.list()] == ["alice", "bob", "carol"]
    with pytest.raises(Conflict, match="exists"):
        us.add("bob", PASSWORD)


def test_the_right_password_verifies_and_wrong_ones_do_not(tmp_path: Path) -> None:
    us = store(tmp_path)
    us.add("alice", PASSWORD)
    user = us.verify("alice", PASSWORD)
    assert user is not None and user.principal().who == "user:alice"
    assert us.verify("Alice ", PASSWORD) is not None  # names are lowercase
    for wrong in ["", "correct horse batter", PASSWORD + " ", "x" * 5000]:
        assert us.verify("alice", wrong) is None


class Spy:
    """The cheap hasher, counting the hashes checked and how many run at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.checked: list[str] = []
        self.delay, self.running, self.most = delay, 0, 0
        self.mutex = threading.Lock()

    def hash(self, password: str) -> str:
        return str(CHEAP.hash(password))

    def check_needs_rehash(self, hashed: str) -> bool:
        return bool(CHEAP.check_needs_rehash(hashed))

    def verify(self, hashed: str, password: str) -> bool:
        with self.mutex:
            self.checked.append(hashed)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay)
        try:
            return bool(CHEAP.verify(hashed, password))
        finally:
            with self.mutex:
                self.running -= 1


def test_an_unknown_user_costs_a_hash_too(tmp_path: Path) -> None:
    spy = Spy()
    us = store(tmp_path, spy)
    us.add("alice", PASSWORD)
    assert us.verify("mallory", PASSWORD) is None
    assert len(spy.checked) == 1 and spy.checked[0].startswith("$argon2id$")


def test_at_most_two_password_hashes_run_at_once(tmp_path: Path) -> None:
    spy = Spy(delay=0.05)
    us = store(tmp_path, spy)
    us.add("alice", PASSWORD)
    threads = [threading.Thread(target=us.verify, args=("alice", "wrong one!")) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spy.checked) == 6 and spy.most == 2


def test_a_hash_made_with_older_parameters_is_upgraded_at_login(tmp_path: Path) -> None:
    old = store(tmp_path)
    before = old.add("alice", PASSWORD)
    stronger = make_hasher(time_cost=2, memory_cost=16, parallelism=1)
    after = store(tmp_path, stronger).verify("alice", PASSWORD)
    assert after is not None and after.stamp == before.stamp  # other sessions live on
    [row] = json.loads((tmp_path / "users.json").read_text())["users"]
    assert row["hash"].startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert store(tmp_path, stronger).verify("alice", PASSWORD) is not None


def test_a_new_password_changes_the_stamp_so_old_sessions_end(tmp_path: Path) -> None:
    us = store(tmp_path)
    before = us.add("alice", PASSWORD)
    after = us.set_password("alice", "another long one")
    assert after.stamp != before.stamp
    assert us.verify("alice", PASSWORD) is None
    assert us.verify("alice", "another long one") is not None
    with pytest.raises(NotFound):
        us.set_password("nobody", "another long one")


def test_a_removed_user_cannot_log_in(tmp_path: Path) -> None:
    us = store(tmp_path)
    us.add("alice", PASSWORD)
    assert us.remove("alice").name == "alice"
    assert us.verify("alice", PASSWORD) is None and us.get("alice") is None
    with pytest.raises(NotFound):
        us.remove("alice")


@pytest.mark.parametrize("name", ["", "Alice", "a b", "-x", "x" * 65, "ünï", "a\n"])
def test_user_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid user name"):
        store(tmp_path).add(name, PASSWORD)


@pytest.mark.parametrize("password", ["", "short", "x" * 1025, "two\nlines", "nul\0nul!"])
def test_weak_or_odd_passwords_are_refused(tmp_path: Path, password: str) -> None:
    with pytest.raises(InvalidInput):
        store(tmp_path).add("alice", password)


def test_the_password_comes_from_the_first_line_of_a_pipe() -> None:
    assert read_password(io.StringIO(PASSWORD + "\nignored\n")) == PASSWORD
    with pytest.raises(InvalidInput, match="shorter"):
        read_password(io.StringIO(""))


def test_at_a_terminal_the_password_is_typed_twice_without_echo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD, PASSWORD, "different!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert read_password(Tty()) == PASSWORD
    with pytest.raises(InvalidInput, match="differ"):
        read_password(Tty())


@pytest.mark.parametrize("rows", ['[["alice"]]', '["alice"]', '[{"name": "alice"}]', "[42]"])
def test_a_corrupt_users_file_is_an_error(tmp_path: Path, rows: str) -> None:
    path = tmp_path / "users.json"
    path.write_text('{"users": ' + rows + "}")
    path.chmod(0o600)
    with pytest.raises(CorruptRecord, match="user record"):
        store(tmp_path).verify("alice", PASSWORD)
