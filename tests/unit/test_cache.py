from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B
from warlockd import cache
from warlockd.errors import InvalidInput
from warlockd.model import parse_id

NOW = 1_700_000_000.0


def test_keys_have_the_shapes_warlock_panels_use() -> None:
    assert (
        cache.key("services", EXAMPLE_GUID, "host1", ID_A)
        == f"services_{EXAMPLE_GUID}_host1_{ID_A}"
    )
    assert cache.key("app_configs", EXAMPLE_GUID, "10.0.0.2", parse_id("default")) == (
        f"app_configs_{EXAMPLE_GUID}_10.0.0.2_default"
    )
    assert cache.key("players", EXAMPLE_GUID, "h", ID_A, f"game@{ID_A}.service") == (
        f"players_{EXAMPLE_GUID}_h_{ID_A}_game@{ID_A}.service"
    )


@pytest.mark.parametrize(
    ("kind", "guid", "host", "instance_id", "service"),
    [
        ("services", EXAMPLE_GUID, "a/b", ID_A, None),
        ("services", EXAMPLE_GUID, "..", ID_A, None),
        ("services", EXAMPLE_GUID, "", ID_A, None),
        ("services", EXAMPLE_GUID, "h\n", ID_A, None),
        ("services", "../../etc", "h", ID_A, None),
        ("services", EXAMPLE_GUID, "h", "../x", None),
        ("services", EXAMPLE_GUID, "h", ID_A.upper(), None),
        ("players", EXAMPLE_GUID, "h", ID_A, None),
        ("players", EXAMPLE_GUID, "h", ID_A, "../../x"),
        ("services", EXAMPLE_GUID, "h", ID_A, "svc"),
        ("secrets", EXAMPLE_GUID, "h", ID_A, None),
    ],
)
def test_every_part_of_a_key_is_validated(
    kind: str, guid: str, host: str, instance_id: str, service: str | None
) -> None:
    # the id is checked where it comes in (parse_id), the rest by key()
    with pytest.raises(InvalidInput):
        cache.key(kind, guid, host, parse_id(instance_id), service)


def test_write_then_read_until_it_expires(tmp_path: Path) -> None:
    k = cache.key("services", EXAMPLE_GUID, "h", ID_A)
    cache.write(tmp_path, k, {"status": "running", "players": 3}, ttl=30, now=NOW)
    assert cache.read(tmp_path, k, now=NOW + 29) == {"status": "running", "players": 3}
    assert cache.read(tmp_path, k, now=NOW + 30) is None
    entry = json.loads((tmp_path / f"{k}.json").read_text())
    assert (entry["written"], entry["expires"], entry["key"]) == (NOW, NOW + 30, k)


def test_instances_never_share_an_entry(tmp_path: Path) -> None:
    a, b = (cache.key("services", EXAMPLE_GUID, "h", i) for i in (ID_A, ID_B))
    cache.write(tmp_path, a, {"who": "a"}, ttl=60, now=NOW)
    cache.write(tmp_path, b, {"who": "b"}, ttl=60, now=NOW)
    assert cache.read(tmp_path, a, now=NOW) == {"who": "a"}
    assert cache.read(tmp_path, b, now=NOW) == {"who": "b"}


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"data": {}}', b'{"data": [], "expires": 9e99}', b"\xff"],
)
def test_a_corrupt_entry_reads_as_missing(tmp_path: Path, content: bytes) -> None:
    k = cache.key("services", EXAMPLE_GUID, "h", ID_A)
    (tmp_path / f"{k}.json").write_bytes(content)
    assert cache.read(tmp_path, k, now=NOW) is None


def test_a_missing_entry_or_run_dir_reads_as_missing(tmp_path: Path) -> None:
    k = cache.key("services", EXAMPLE_GUID, "h", ID_A)
    assert cache.read(tmp_path, k) is None
    assert cache.read(tmp_path / "absent", k) is None


def test_a_hand_made_key_cannot_leave_the_run_dir(tmp_path: Path) -> None:
    for bad in ("../escape", "a/b", ""):
        with pytest.raises(InvalidInput):
            cache.read(tmp_path, bad)
        with pytest.raises(InvalidInput):
            cache.write(tmp_path, bad, {}, ttl=1)


def test_writes_leave_no_temp_files_and_set_the_mode(tmp_path: Path) -> None:
    k = cache.key("services", EXAMPLE_GUID, "h", ID_A)
    for durable in (False, True):
        cache.write(tmp_path, k, {"n": 1}, ttl=5, durable=durable, mode=0o640)
        assert os.listdir(tmp_path) == [f"{k}.json"]
        assert stat.S_IMODE((tmp_path / f"{k}.json").stat().st_mode) == 0o640


def test_prune_removes_expired_corrupt_and_stale_temp_files_only(tmp_path: Path) -> None:
    live, dead, bad = (
        cache.key("services", EXAMPLE_GUID, "h", parse_id(i)) for i in (ID_A, ID_B, "default")
    )
    cache.write(tmp_path, live, {}, ttl=60, now=NOW)
    cache.write(tmp_path, dead, {}, ttl=1, now=NOW)
    (tmp_path / f"{bad}.json").write_text("{")
    stale = tmp_path / f".{live}.json.abc.tmp"
    stale.write_text("half")
    os.utime(stale, (NOW - 3600, NOW - 3600))
    fresh = tmp_path / f".{live}.json.def.tmp"
    fresh.write_text("being written")
    os.utime(fresh, (NOW, NOW))
    (tmp_path / "README").write_text("not ours")
    assert cache.prune(tmp_path, now=NOW + 10) == 3
    assert sorted(os.listdir(tmp_path)) == sorted([f"{live}.json", fresh.name, "README"])
    assert cache.prune(tmp_path / "absent", now=NOW) == 0
