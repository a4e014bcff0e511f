from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, make_paths
from warlockd.errors import CorruptRecord, InvalidInput, NotFound
from warlockd.model import DEFAULT_ID, Instance, InstanceId, Limits, parse_id
from warlockd.registry import Registry

OTHER_GUID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def _inst(instance_id: InstanceId = ID_A, **changes: object) -> Instance:
    return Instance(
        id=instance_id,
        app=EXAMPLE_GUID,
        name=f"server {instance_id[:4]}",
        path=f"/srv/games/{instance_id}",
        ports={"game": 30000},
        created_at="2025-01-01T00:00:00+00:00",
        limits=Limits(memory_max="1G"),
        env={"A": "b"},
    ).with_(**changes)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(make_paths(tmp_path))
    reg.root.mkdir(parents=True)
    return reg


def test_save_writes_the_app_file_without_a_trailing_newline_and_the_record(
    registry: Registry,
) -> None:
    inst = _inst()
    registry.save(inst)
    app = registry.root / f"{EXAMPLE_GUID}.{ID_A}.app"
    assert app.read_bytes() == inst.path.encode()
    assert (registry.root / f"{EXAMPLE_GUID}.{ID_A}.toml").is_file()
    assert sorted(p.name for p in registry.root.iterdir() if p.name != ".index.json") == [
        app.name,
        f"{EXAMPLE_GUID}.{ID_A}.toml",
    ]


def test_the_record_is_not_world_readable(registry: Registry) -> None:
    registry.save(_inst())
    mode = stat.S_IMODE(registry.record_path(_inst()).stat().st_mode)
    assert mode & 0o007 == 0


def test_the_default_instance_is_registered_under_the_bare_guid(registry: Registry) -> None:
    registry.save(_inst(parse_id(DEFAULT_ID)))
    assert sorted(p.name for p in registry.root.iterdir() if p.name != ".index.json") == [
        f"{EXAMPLE_GUID}.app",
        f"{EXAMPLE_GUID}.toml",
    ]
    assert registry.get(parse_id(DEFAULT_ID)) == _inst(parse_id(DEFAULT_ID))


def test_get_and_scan_return_what_save_wrote(registry: Registry) -> None:
    a, b = _inst(ID_A), _inst(ID_B, app=OTHER_GUID, enabled=True)
    registry.save(a)
    registry.save(b)
    assert registry.get(ID_A) == a
    assert registry.get(ID_B) == b
    found, problems = registry.scan()
    assert sorted(found, key=lambda i: i.id) == [a, b]
    assert problems == []


def test_save_overwrites_the_record(registry: Registry) -> None:
    registry.save(_inst())
    registry.save(_inst(name="renamed"))
    assert registry.get(ID_A).name == "renamed"


def test_get_of_an_unknown_instance_raises_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound, match=ID_B):
        registry.get(ID_B)
    assert registry.exists(ID_B) is False


def test_get_refuses_a_malformed_id_before_looking(registry: Registry) -> None:
    with pytest.raises(InvalidInput):
        registry.get(parse_id("../" + ID_A))


def test_scan_of_a_missing_state_dir_is_empty(tmp_path: Path) -> None:
    assert Registry(make_paths(tmp_path / "nowhere")).scan() == ([], [])


def test_scan_reports_every_bad_file_by_name_and_still_lists_the_good_ones(
    registry: Registry,
) -> None:
    good_a, good_b = _inst(ID_A), _inst(parse_id(DEFAULT_ID))
    registry.save(good_a)
    registry.save(good_b)
    root = registry.root
    corrupt_id = "2d7e9c74-5b50-4da0-9f21-7c3e4f5a6b82"
    (root / f"{EXAMPLE_GUID}.{corrupt_id}.toml").write_text("id = [unclosed\n")
    (root / "junk.toml").write_text('id = "x"\n')
    # A record whose content names another instance than its file name.
    (root / f"{OTHER_GUID}.{ID_B}.toml").write_text(registry.record_path(good_a).read_text())
    orphan = "3e8fad85-6c61-4eb1-8a32-8d4f5a6b7c93"
    (root / f"{EXAMPLE_GUID}.{orphan}.app").write_text("/srv/games/orphan")
    (root / "README").write_text("not ours")  # neither .toml nor .app: ignored

    found, problems = registry.scan()

    assert sorted(i.id for i in found) == sorted([ID_A, DEFAULT_ID])
    by_file = {p.file: p.reason for p in problems}
    assert set(by_file) == {
        f"{EXAMPLE_GUID}.{corrupt_id}.toml",
        "junk.toml",
        f"{OTHER_GUID}.{ID_B}.toml",
        f"{EXAMPLE_GUID}.{orphan}.app",
    }
    assert "corrupt" in by_file[f"{EXAMPLE_GUID}.{corrupt_id}.toml"]
    assert "not a record name" in by_file["junk.toml"]
    assert "its name does not" in by_file[f"{OTHER_GUID}.{ID_B}.toml"]
    assert "without a record" in by_file[f"{EXAMPLE_GUID}.{orphan}.app"]
    assert all(str(root) not in str(p) for p in problems)  # names, not full paths


def test_a_record_with_invalid_values_is_reported_not_listed(registry: Registry) -> None:
    registry.save(_inst())
    path = registry.record_path(_inst())
    path.write_text(path.read_text().replace('name = "server 0b5c"', 'name = "a\\nb"'))
    found, problems = registry.scan()
    assert found == []
    assert [p.file for p in problems] == [path.name]


def test_get_of_a_corrupt_record_raises_corrupt_record(registry: Registry) -> None:
    (registry.root / f"{EXAMPLE_GUID}.{ID_A}.toml").write_bytes(b"\xff\xfe not toml")
    with pytest.raises(CorruptRecord, match=ID_A):
        registry.get(ID_A)
    assert registry.exists(ID_A) is True  # taken, even if unreadable


def test_remove_deletes_both_files(registry: Registry) -> None:
    keep = _inst(ID_B)
    registry.save(_inst())
    registry.save(keep)
    registry.remove(_inst())
    assert sorted(p.name for p in registry.root.iterdir() if p.name != ".index.json") == [
        f"{EXAMPLE_GUID}.{ID_B}.app",
        f"{EXAMPLE_GUID}.{ID_B}.toml",
    ]
    with pytest.raises(NotFound):
        registry.get(ID_A)
    assert registry.all() == [keep]


def test_lock_creates_the_state_dir(tmp_path: Path) -> None:
    reg = Registry(make_paths(tmp_path / "fresh"))
    with reg.lock():
        assert reg.root.is_dir()


def test_scan_reuses_parsed_records_and_sees_a_record_edited_in_place(registry: Registry) -> None:
    registry.save(_inst(name="before"))
    assert [i.name for i in registry.all()] == ["before"]
    assert (registry.root / ".index.json").exists()
    record = registry.record_path(_inst())
    # an admin's editor writing in place: same inode, new content (and mtime)
    with open(record, "r+") as f:
        text = f.read().replace('name = "before"', 'name = "after!"')
        f.seek(0)
        f.write(text)
        f.truncate()
    assert [i.name for i in registry.all()] == ["after!"]


def test_a_corrupt_parse_cache_is_ignored(registry: Registry) -> None:
    registry.save(_inst(name="kept"))
    registry.all()
    (registry.root / ".index.json").write_text("{not json")
    assert [i.name for i in registry.all()] == ["kept"]


def test_the_parse_cache_never_hides_a_record_turned_corrupt(registry: Registry) -> None:
    registry.save(_inst())
    registry.all()
    registry.record_path(_inst()).write_text("id = [broken")
    found, problems = registry.scan()
    assert found == [] and [p.file for p in problems] == [registry.record_path(_inst()).name]
