from __future__ import annotations

import hmac
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import ID_A, ID_B, REPO
from warlockd.errors import Conflict, CorruptRecord, InvalidInput, NotFound
from warlockd.web.keys import KeyStore, parse_key
from warlockd.web.principal import Scope


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(tmp_path: Path, clock: Clock | None = None) -> KeyStore:
    return KeyStore(tmp_path / "api-keys.json", clock=clock or Clock())


def test_a_new_key_is_shown_once_and_only_its_sha256_reaches_the_disk(tmp_path: Path) -> None:
    ks = store(tmp_path)
    key, text = ks.create("ci", Scope.OPERATE)
    assert text.startswith(f"wlk_{key.id}_") and parse_key(text) == key.id
    assert len(text.split("_", 2)[2]) == 43  # 32 random bytes, urlsafe base64
    raw = (tmp_path / "api-keys.json").read_text()
    assert text not in raw and text.split("_", 2)[2] not in raw
    row = json.loads(raw)["keys"][0]
    assert row["hash"].startswith("sha256:") and row["name"] == "ci"
    assert row["scope"] == "operate" and row["instances"] is None and row["revoked_at"] is None
    assert "hash" not in key.to_dict()


def test_the_right_key_verifies_to_its_principal(tmp_path: Path) -> None:
    ks = store(tmp_path)
    key, text = ks.create("deploy", Scope.OPERATE, [ID_A])
    p = ks.verify(text)
    assert p is not None
    assert (p.who, p.scope, p.instances, p.key_id) == (
        "key:deploy",
        Scope.OPERATE,
        frozenset({ID_A}),
        key.id,
    )


@pytest.mark.parametrize(
    "attempt",
    [
        "",
        "wlk_",
        "nonsense",
        "Bearer wlk_0123456789abcdef_" + "A" * 43,
        "wlk_0123456789ABCDEF_" + "A" * 43,  # uppercase id
        "wlk_0123456789abcdef_" + "A" * 42,  # secret too short
        "wlk_0123456789abcdef_" + "A" * 43 + "\n",
        "wlk_0123456789abcdef_" + "é" * 43,
    ],
)
def test_a_malformed_key_is_refused(tmp_path: Path, attempt: str) -> None:
    ks = store(tmp_path)
    ks.create("ci", Scope.ADMIN)
    assert ks.verify(attempt) is None


def test_a_wrong_secret_for_a_real_key_id_is_refused(tmp_path: Path) -> None:
    ks = store(tmp_path)
    key, text = ks.create("ci", Scope.ADMIN)
    secret = text.split("_", 2)[2]
    flipped = ("B" if secret[0] == "A" else "A") + secret[1:]
    assert ks.verify(f"wlk_{key.id}_{flipped}") is None
    assert ks.verify(f"wlk_{'0' * 16}_{secret}") is None  # right secret, unknown id


def test_hashes_are_compared_in_constant_time_known_id_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks = store(tmp_path)
    key, text = ks.create("ci", Scope.ADMIN)
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("warlockd.web.keys.hmac.compare_digest", spy)
    secret = text.split("_", 2)[2]
    assert ks.verify(f"wlk_{key.id}_{'x' * 43}") is None
    assert ks.verify(f"wlk_{'f' * 16}_{secret}") is None  # unknown id: a dummy comparison
    assert ks.verify(text) is not None
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)  # raw digests, same length


def test_a_key_revoked_by_another_process_fails_at_once_in_a_living_verifier(
    tmp_path: Path,
) -> None:
    daemon = store(tmp_path)
    key, text = daemon.create("ci", Scope.OPERATE)
    assert daemon.verify(text) is not None  # the daemon has read and cached the file
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from warlockd.web.keys import KeyStore
        print(KeyStore(Path({str(tmp_path / "api-keys.json")!r})).revoke("ci").id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == key.id
    assert daemon.verify(text) is None
    assert [k.name for k in daemon.list()] == []
    [revoked] = daemon.list(include_revoked=True)
    assert revoked.revoked_at is not None


def test_revoke_takes_a_name_or_an_id_and_a_revoked_name_can_be_reused(tmp_path: Path) -> None:
    ks = store(tmp_path)
    first, text1 = ks.create("ci", Scope.READ)
    ks.revoke("ci")
    second, text2 = ks.create("ci", Scope.READ)
    assert ks.verify(text1) is None and ks.verify(text2) is not None
    assert ks.revoke(second.id).revoked_at is not None
    assert ks.revoke(first.id).revoked_at is not None  # again: no change, no error
    with pytest.raises(NotFound, match="no active API key named 'ci'"):
        ks.revoke("ci")


def test_names_are_unique_printable_and_at_most_64_characters(tmp_path: Path) -> None:
    ks = store(tmp_path)
    ks.create("ci", Scope.READ)
    with pytest.raises(Conflict, match="exists"):
        ks.create("ci", Scope.ADMIN)
    for bad in ["", "   ", "x" * 65, "a\nb", "tab\there", " lead", "0123456789abcdef"]:
        with pytest.raises(InvalidInput):
            ks.create(bad, Scope.READ)
    ks.create("x" * 64, Scope.READ)
    ks.create("déploiement 2", Scope.READ)


def test_instance_lists_are_validated(tmp_path: Path) -> None:
    ks = store(tmp_path)
    with pytest.raises(InvalidInput, match="invalid instance id"):
        ks.create("bad", Scope.READ, ["not-an-id"])
    key, _ = ks.create("two", Scope.READ, [ID_B, ID_A])
    assert key.instances == (ID_A, ID_B)


def test_the_list_shows_no_secret_and_no_hash(tmp_path: Path) -> None:
    ks = store(tmp_path)
    _, text = ks.create("ci", Scope.READ)
    listed = [k.to_dict() for k in ks.list()]
    assert listed[0]["name"] == "ci" and "hash" not in listed[0]
    assert text not in json.dumps(listed)


def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    clock = Clock()
    ks = store(tmp_path, clock)
    _, text = ks.create("ci", Scope.READ)
    path = tmp_path / "api-keys.json"
    writes = []
    for step in range(0, 130, 5):  # a request every 5 s for two minutes
        clock.now = 1_700_000_000.0 + step
        before = path.stat().st_ino
        assert ks.verify(text) is not None
        if path.stat().st_ino != before:
            writes.append(step)
    assert writes == [0, 60, 120]
    last = json.loads(path.read_text())["keys"][0]["last_used"]
    assert last == "2023-11-14T22:15:20+00:00"  # 1_700_000_120


def test_the_key_file_is_root_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store(tmp_path).create("ci", Scope.READ)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "api-keys.json").stat().st_mode) == 0o600


def test_a_key_file_others_could_change_is_refused(tmp_path: Path) -> None:
    ks = store(tmp_path)
    _, text = ks.create("ci", Scope.READ)
    os.chmod(tmp_path / "api-keys.json", 0o666)
    with pytest.raises(CorruptRecord, match="not a root-only file") as e:
        store(tmp_path).verify(text)
    assert e.value.hint is not None and "chmod 600" in e.value.hint


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks = store(tmp_path)
    _, text = ks.create("ci", Scope.READ)
    before = (tmp_path / "api-keys.json").read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("warlockd.fsutil.os.replace", crash)
    with pytest.raises(OSError, match="No space"):
        ks.create("other", Scope.READ)
    monkeypatch.undo()
    assert (tmp_path / "api-keys.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".api-keys.json.lock", "api-keys.json"]
    assert ks.verify(text) is not None


def test_concurrent_key_creation_from_two_processes_loses_nothing(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from warlockd.web.keys import KeyStore
        from warlockd.web.principal import Scope
        ks = KeyStore(Path(sys.argv[1]))
        for i in range(25):
            ks.create(f"{sys.argv[2]}-{i}", Scope.READ)
        """
    )
    path = str(tmp_path / "api-keys.json")
    procs = [subprocess.Popen([sys.executable, "-c", code, path, who], cwd=REPO) for who in "ab"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    names = {k.name for k in store(tmp_path).list()}
    assert names == {f"{w}-{i}" for w in "ab" for i in range(25)}


@pytest.mark.parametrize(
    "rows", ['[{"id": "zz"}]', '["wlk"]', "[[1]]", '[{"id": "0123456789abcdef"}]']
)
def test_a_corrupt_key_file_is_an_error_not_an_empty_table(tmp_path: Path, rows: str) -> None:
    path = tmp_path / "api-keys.json"
    path.write_text('{"keys": ' + rows + "}")
    os.chmod(path, 0o600)
    with pytest.raises(CorruptRecord):
        store(tmp_path).verify("wlk_0123456789abcdef_" + "A" * 43)
