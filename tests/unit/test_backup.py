"""Backups and restore of an instance's saves, over a World (in-memory systemd)."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B, World
from warlockd import archives
from warlockd.actions import clone as clone_action
from warlockd.actions.backup import backup
from warlockd.actions.clone import clone
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.pack import import_pack, pack
from warlockd.actions.restore import restore
from warlockd.actions.start_stop import start
from warlockd.cli.progress import Terminal
from warlockd.errors import Conflict, InvalidInput, NotFound
from warlockd.layout import data_dir, packs_dir
from warlockd.model import Instance
from warlockd.store import Store


@pytest.fixture
def inst(world: World) -> Instance:
    made = create(world.host, CreateRequest("example", "saved", ID_A))
    _world(made, 7)
    return made


def _world(inst: Instance, tick: int) -> None:
    (data_dir(inst) / "world.json").write_text(json.dumps({"tick": tick}))


def _tick(inst: Instance) -> int:
    return int(json.loads((data_dir(inst) / "world.json").read_text())["tick"])


def _names(archive: str | Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def _events(world: World) -> list[tuple[str, str]]:
    store = Store(world.paths.state / "warlock.db")
    try:
        return [(e.kind, e.message) for e in store.events(0)]
    finally:
        store.close()


def _evil(inst: Instance, name: str, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    path = archives.backup_dir(inst) / name
    path.parent.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def test_a_backup_holds_the_saves_the_manifest_names_and_nothing_half_written(
    world: World, inst: Instance
) -> None:
    (data_dir(inst) / "console").write_text("")  # not a save
    result = backup(world.host, inst)
    assert Path(result.file).name.startswith(f"{inst.id}-backup-")
    assert result.file.endswith(".tar.gz") and result.size == Path(result.file).stat().st_size
    assert _names(result.file) == ["world.json"]
    assert [p.name for p in archives.backup_dir(inst).iterdir() if p.name != ".lock"] == [
        Path(result.file).name
    ]  # no temporary file left beside it
    assert (Path(result.file).stat().st_mode & 0o777) == 0o600
    assert _events(world)[-1][0] == "backup"


def test_max_backups_keeps_the_newest(world: World, inst: Instance) -> None:
    made = [backup(world.host, inst).file for _ in range(3)]
    result = backup(world.host, inst, max_backups=2)
    kept = sorted(str(p) for p in archives.backup_dir(inst).glob("*.tar.gz"))
    assert kept == sorted([made[2], result.file]) and set(result.pruned) == set(made[:2])
    with pytest.raises(InvalidInput, match="--max-backups 0"):
        backup(world.host, inst, max_backups=0)


def test_restore_puts_the_saves_back_and_keeps_a_safety_backup(
    world: World, inst: Instance
) -> None:
    saved = backup(world.host, inst)
    _world(inst, 99)
    result = restore(world.host, inst, Path(saved.file).name)
    assert _tick(inst) == 7
    safety = Path(str(result["safety_backup"]))
    assert safety.name.endswith("-pre-restore.tar.gz")
    with tarfile.open(safety) as tar:
        member = tar.extractfile("world.json")
        assert member is not None and json.loads(member.read())["tick"] == 99
    assert result["restarted"] is False and result["paths"] == ["world.json"]
    assert not [p for p in data_dir(inst).iterdir() if p.name.startswith(".restore")]
    assert "restored" in _events(world)[-1][1]


def test_restore_refuses_while_the_game_runs_unless_forced(world: World, inst: Instance) -> None:
    saved = backup(world.host, inst)
    start(world.host, inst)
    _world(inst, 99)
    with pytest.raises(Conflict, match="is running"):
        restore(world.host, inst, saved.file)
    assert _tick(inst) == 99
    calls = len(world.mem.calls)
    result = restore(world.host, inst, saved.file, force=True)
    ops = [op for op, _ in world.mem.calls[calls:]]
    assert ops.index("stop") < ops.index("start") and result["restarted"] is True
    assert _tick(inst) == 7 and world.mem.units[inst.unit].active == "active"


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (tarfile.TarInfo("../escape"), "points outside"),
        (tarfile.TarInfo("/etc/cron.d/evil"), "points outside"),
        (tarfile.TarInfo("backups/x.tar.gz"), "is not a save"),
    ],
)
def test_restore_refuses_an_archive_that_reaches_outside(
    world: World, inst: Instance, member: tarfile.TarInfo, why: str
) -> None:
    evil = _evil(inst, "evil.tar.gz", member)
    before = world.snapshot()
    with pytest.raises(InvalidInput, match=why):
        restore(world.host, inst, evil.name)
    assert world.snapshot() == before


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE])
def test_restore_refuses_links_and_devices(world: World, inst: Instance, kind: bytes) -> None:
    member = tarfile.TarInfo("world.json")
    member.type, member.linkname = kind, "/etc/shadow"
    evil = _evil(inst, "link.tar.gz", member)
    before = world.snapshot()
    with pytest.raises(InvalidInput, match="not a plain file"):
        restore(world.host, inst, evil.name)
    assert world.snapshot() == before


def test_restore_drops_setuid_bits(world: World, inst: Instance) -> None:
    member = tarfile.TarInfo("world.json")
    member.mode = 0o4755
    evil = _evil(inst, "suid.tar.gz", member, json.dumps({"tick": 3}).encode())
    restore(world.host, inst, evil.name)
    assert _tick(inst) == 3 and (data_dir(inst) / "world.json").stat().st_mode & 0o7000 == 0


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("../../etc/passwd", InvalidInput),
        ("relative/path.tar.gz", InvalidInput),
        ("name with spaces", InvalidInput),
        ("missing.tar.gz", NotFound),
        ("/nonexistent/x.tar.gz", NotFound),
    ],
)
def test_restore_of_a_bad_name_changes_nothing(
    world: World, inst: Instance, given: str, error: type[Exception]
) -> None:
    before = world.snapshot()
    with pytest.raises(error):
        restore(world.host, inst, given)
    assert world.snapshot() == before


def test_restore_of_a_file_that_is_not_an_archive_changes_nothing(
    world: World, inst: Instance
) -> None:
    junk = archives.backup_dir(inst) / "junk.tar.gz"
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"not gzip")
    before = world.snapshot()
    with pytest.raises(InvalidInput, match="not a readable"):
        restore(world.host, inst, junk.name)
    assert world.snapshot() == before


def test_an_instance_whose_directory_is_gone_is_one_clear_error(
    world: World, inst: Instance
) -> None:
    shutil.rmtree(data_dir(inst))
    for call in (
        lambda: backup(world.host, inst),
        lambda: restore(world.host, inst, "x"),
    ):
        with pytest.raises(NotFound, match="is missing"):
            call()


def test_a_restore_from_elsewhere_makes_the_backups_directory_root_only(
    world: World, inst: Instance, tmp_path: Path
) -> None:
    saved = backup(world.host, inst)
    elsewhere = tmp_path / "kept.tar.gz"
    Path(saved.file).rename(elsewhere)
    shutil.rmtree(archives.backup_dir(inst))
    restore(world.host, inst, str(elsewhere))
    assert archives.backup_dir(inst).stat().st_mode & 0o777 == 0o700


def test_a_clone_gets_the_saves_limits_and_env_with_its_own_id_ports_and_user(
    world: World, inst: Instance
) -> None:
    source = create(
        world.host,
        CreateRequest("example", "With env", env=("GREETING=hi",), ports=("game=31000",)),
    )
    _world(source, 42)
    before = world.snapshot()["files"]
    made = clone(world.host, source, name="Copy", instance_id=ID_B)
    assert (made.id, made.name, made.app) == (ID_B, "Copy", source.app)
    assert made.env == {"GREETING": "hi"} and made.limits == source.limits
    assert made.ports != source.ports and made.user != source.user
    assert made.path != source.path and _tick(made) == 42
    assert world.host.registry.get(made.id) == made
    # the source is as it was: no clone archive left in its backups
    after = {k: v for k, v in world.snapshot()["files"].items() if k in before}
    assert {k: v for k, v in after.items() if "/backups" not in k} == {
        k: v for k, v in before.items() if "/backups" not in k
    }
    assert list(archives.backup_dir(source).glob("*.tar.gz")) == []
    # and the clone has no safety copy of the empty world it replaced
    assert list(archives.backup_dir(made).glob("*.tar.gz")) == []
    assert _events(world)[-1] == ("backup", f"cloned from {source.id} (With env)")


def test_a_clone_of_an_instance_without_saves_is_a_plain_create(world: World) -> None:
    source = create(world.host, CreateRequest("example", "Fresh"))
    made = clone(world.host, source)
    assert made.name == "Fresh (copy)" and not (data_dir(made) / "world.json").exists()


def test_a_long_name_still_fits_with_its_copy_suffix(world: World) -> None:
    source = create(world.host, CreateRequest("example", "x" * 64))
    assert clone(world.host, source).name == "x" * 57 + " (copy)"


def test_a_clone_that_cannot_be_made_leaves_nothing(world: World, inst: Instance) -> None:
    before = world.snapshot()
    with pytest.raises(Conflict):  # the id is the source's own
        clone(world.host, inst, instance_id=inst.id)
    assert world.snapshot() == before


def test_a_clone_whose_copy_fails_is_deleted_again(
    world: World, inst: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = {i.id for i in world.host.registry.all()}
    users = dict(world.accounts.users)

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise InvalidInput("the archive is broken")

    monkeypatch.setattr(clone_action, "restore_file", broken)
    with pytest.raises(InvalidInput, match="broken"):
        clone(world.host, inst, instance_id=ID_B)
    assert {i.id for i in world.host.registry.all()} == registered
    assert world.accounts.users == users  # the clone's user went with it
    assert not world.paths.dropin_dir(f"game@{ID_B}.service").exists()
    assert list(archives.backup_dir(inst).glob("*.tar.gz")) == []
    assert _tick(inst) == 7


def _pack_with(tmp_path: Path, record: object, extra: dict[str, bytes] | None = None) -> Path:
    """A hand-made pack: its record (JSON-encoded unless bytes) and other members."""
    path = tmp_path / "hand.tar.gz"
    raw = record if isinstance(record, bytes) else json.dumps(record).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"instance.json": raw, **(extra or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _saves_archive(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_pack_holds_the_settings_and_saves_and_imports_as_a_new_instance(
    world: World, inst: Instance, tmp_path: Path
) -> None:
    source = inst.with_(env={"GREETING": "hi"}, secrets={"rcon_password": "Secret0123456789abcd"})
    with world.host.registry.lock():
        world.host.registry.save(source)
    made = pack(world.host, source)
    packed = Path(str(made["file"]))
    # beside the backups, not among them: panels offer every archive in backups/ to restore
    assert packed.parent == packs_dir(source) and packed.stat().st_mode & 0o777 == 0o600
    assert packs_dir(source).stat().st_mode & 0o777 == 0o700
    assert _names(packed) == ["instance.json", "saves.tar.gz"]
    with tarfile.open(packed) as tar:
        raw = tar.extractfile("instance.json")
        assert raw is not None
        text = raw.read().decode()
    assert "Secret0123456789abcd" not in text and json.loads(text)["env"] == {"GREETING": "hi"}
    assert [p.name for p in packs_dir(source).glob("*.tar.gz")] == [packed.name]
    assert list(archives.backup_dir(source).glob("*.tar.gz")) == []
    with pytest.raises(NotFound):  # restore takes backups, not packs
        restore(world.host, source, packed.name)

    copy = tmp_path / "moved.tar.gz"  # as if carried to another host
    shutil.copy(packed, copy)
    new = import_pack(world.host, str(copy), instance_id=ID_B)
    assert (new.id, new.name, new.app, new.env) == (ID_B, source.name, source.app, source.env)
    assert new.ports != source.ports and new.secrets == {} and _tick(new) == 7
    assert list(archives.backup_dir(new).glob("*.tar.gz")) == []
    assert not list(world.paths.state.glob(".import-*"))
    assert _events(world)[-1] == ("backup", "imported from moved.tar.gz")


GOOD_RECORD = {"format": 1, "app": "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10", "name": "Moved"}


@pytest.mark.parametrize(
    ("record", "extra", "message"),
    [
        (b"not json", None, "instance.json"),
        ({**GOOD_RECORD, "format": 2}, None, "not format 1"),
        ({k: v for k, v in GOOD_RECORD.items() if k != "name"}, None, "no 'name'"),
        ({**GOOD_RECORD, "app": "../etc"}, None, "invalid app guid"),
        ({**GOOD_RECORD, "limits": {"memory_max": "lots"}}, None, "not a size"),
        ({**GOOD_RECORD, "name": "a\nb"}, None, "control character"),
        ({**GOOD_RECORD, "env": {"A B": "x"}}, None, "NAME=value"),
        (GOOD_RECORD, {"../evil": b"x"}, "not a warlockd pack"),
        (GOOD_RECORD, {"saves.tar.gz": b"not gzip"}, "not a warlockd pack"),
        (GOOD_RECORD, {"saves.tar.gz": _saves_archive({"../x": b"x"})}, "points outside"),
        ({**GOOD_RECORD, "app": "00000000-0000-4000-8000-000000000000"}, None, "unknown app"),
    ],
)
def test_a_bad_pack_is_refused_before_anything_is_made(
    world: World, inst: Instance, tmp_path: Path, record: object,
    extra: dict[str, bytes] | None, message: str,
) -> None:  # fmt: skip
    path = _pack_with(tmp_path, record, extra)
    before = world.snapshot()
    with pytest.raises((InvalidInput, NotFound), match=message):
        import_pack(world.host, str(path))
    assert world.snapshot() == before


def test_import_needs_an_absolute_path_to_a_file(world: World) -> None:
    with pytest.raises(InvalidInput, match="absolute"):
        import_pack(world.host, "relative.tar.gz")
    with pytest.raises(NotFound, match="no pack"):
        import_pack(world.host, "/nonexistent/pack.tar.gz")


def test_a_hand_made_pack_without_saves_imports(world: World, tmp_path: Path) -> None:
    new = import_pack(world.host, str(_pack_with(tmp_path, GOOD_RECORD)))
    assert new.name == "Moved" and world.host.registry.get(new.id) == new


def test_what_a_killed_backup_left_is_removed_by_the_next(world: World, inst: Instance) -> None:
    d = archives.backup_dir(inst)
    d.mkdir(mode=0o700, exist_ok=True)
    dead = d / f".{inst.id}-backup-20260101-000000.tar.gz.999999999.tmp"  # no such process
    live = d / f".{inst.id}-backup-20260101-000001.tar.gz.{os.getpid()}.tmp"
    dead.write_bytes(b"half an archive")
    live.write_bytes(b"being written")
    backup(world.host, inst)
    assert not dead.exists() and live.exists()


def test_backup_and_restore_report_their_progress(world: World, inst: Instance) -> None:
    seen: list[tuple[str, int, int | None]] = []
    world_host = world.host
    world_host.progress = lambda what, done, total: seen.append((what, done, total))
    made = backup(world_host, inst)
    assert seen and seen[-1][0] == f"backup of {inst.id}"
    done, total = seen[-1][1:]
    assert total and done == total
    seen.clear()
    restore(world_host, inst, made.file)
    assert seen[-1][0] == f"restore of {inst.id}" and seen[-1][1] == seen[-1][2]


def test_the_terminal_shows_bytes_rate_and_time_left_then_a_newline() -> None:
    out = io.StringIO()
    ticks = iter([0.0, 1.0, 1.1, 2.0])
    show = Terminal(out, clock=lambda: next(ticks))
    show("backup", 0, 4 << 20)
    show("backup", 1 << 20, 4 << 20)
    show("backup", 2 << 20, 4 << 20)  # within 0.2 s of the last line: not drawn
    show("backup", 4 << 20, 4 << 20)
    lines = out.getvalue().split("\r\x1b[K")
    assert "backup: 1.0 MB of 4.0 MB (25%), 1.0 MB/s, 3 s left" in lines
    assert lines[-1] == "backup: 4.0 MB of 4.0 MB (100%), 2.0 MB/s\n"
    assert len(lines) == 3  # "" before the first, then the two drawn
