"""Content Manager's server packs, judged and made into a shared build (sources/pack.py), and
what warlockd.acserver does to an instance's files before acServer starts."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit import acpack
from warlockd import acserver
from warlockd.errors import InvalidInput
from warlockd.sources import pack


def test_a_linux_pack_splits_into_server_files_and_the_presets_own(tmp_path: Path) -> None:
    plan = pack.read(acpack.build(tmp_path / "server-pack.tar.gz"))
    assert {e.rel for e in plan.shared} == {
        "acServer", f"content/cars/{acpack.CAR}/data.acd",
        f"content/tracks/{acpack.TRACK}/{acpack.LAYOUT}/data/surfaces.ini",
        f"content/tracks/{acpack.TRACK}/models_{acpack.LAYOUT}.ini", "system/data/surfaces.ini",
    }  # fmt: skip
    assert {e.rel for e in plan.own} == {
        "cfg/server_cfg.ini",
        "cfg/entry_list.ini",
        "cfg/cm_wrapper_params.json",
    }
    assert plan.ports == {"udp": 9600, "tcp": 9600, "http": 8081}
    assert plan.build_id.startswith("pack-") and len(plan.build_id) == 17
    assert "NAME=akina \u2139" in plan.server_cfg and plan.skipped == ()


def test_the_build_hash_ignores_the_preset_but_not_the_server_files(tmp_path: Path) -> None:
    a = pack.read(acpack.build(tmp_path / "a.tar.gz"))
    other_preset = acpack.server_cfg((9700, 9700, 8181), NAME="Tuesday practice")
    b = pack.read(acpack.build(tmp_path / "b.zip", {"cfg/server_cfg.ini": (other_preset.encode(),
                                                    0o644)}, kind="zip"))  # fmt: skip
    c = pack.read(acpack.build(tmp_path / "c.tar.gz", {"system/data/surfaces.ini": (b"x", 0o644)}))
    assert a.build_id == b.build_id != c.build_id
    assert b.ports == {"udp": 9700, "tcp": 9700, "http": 8181}


def test_a_pack_zipped_inside_a_folder_is_found_there(tmp_path: Path) -> None:
    extra = {"README.txt": (b"hi", 0o644)}
    plan = pack.read(acpack.build(tmp_path / "p.zip", extra, kind="zip", top="server/"))
    assert "acServer" in {e.rel for e in plan.shared}
    plan2 = pack.read(acpack.build(tmp_path / "q.zip", extra, kind="zip"))
    assert plan2.skipped == ("README.txt",)


def test_install_makes_one_read_only_build_per_hash(tmp_path: Path) -> None:
    plan = pack.read(acpack.build(tmp_path / "p.tar.gz"))
    apps = tmp_path / "apps"
    build = pack.install(plan, apps, "guid")
    again = pack.install(pack.read(acpack.build(tmp_path / "q.tar.gz")), apps, "guid")
    assert build == again and build.path == apps / "guid" / plan.build_id
    assert (build.path / "acServer").stat().st_mode & 0o777 == 0o755
    assert (build.path / "system/data/surfaces.ini").stat().st_mode & 0o777 == 0o644
    assert not (build.path / "cfg").exists()  # the preset is each instance's own
    assert not (apps / "guid" / ".current").exists()  # SteamCMD's current build stays so
    assert [p.name for p in (apps / "guid").iterdir()] == [plan.build_id]


def _tar(tmp_path: Path, *extra: tarfile.TarInfo) -> Path:
    return acpack.tar_with(tmp_path / "bad.tar.gz", *extra)


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 1
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size = kind, link, size if kind == tarfile.REGTYPE else 0
    return ti


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, _) in acpack.members().items():
            zf.writestr(name, data)
        zf.writestr("content/cars/x/data.acd", b"\0" * (8 << 20))
    return path


Make = Callable[[Path], Path]


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD: dict[str, tuple[Make, str]] = {
    "dotdot": (lambda t: _tar(t, _info("../evil")), "'..'"),
    "absolute": (lambda t: _tar(t, _info("/etc/evil")), "absolute"),
    "symlink": (lambda t: _tar(t, _info("content/x", tarfile.SYMTYPE, "../../etc")), "link"),
    "link inside": (lambda t: _tar(t, _info("cfg/x", tarfile.SYMTYPE, "server_cfg.ini")), "link"),
    "hardlink": (lambda t: _tar(t, _info("cfg/h", tarfile.LNKTYPE, "cfg/entry_list.ini")), "link"),
    "device": (lambda t: _tar(t, _info("dev", tarfile.CHRTYPE)), "device"),
    "bomb": (lambda t: _zip_bomb(t / "bomb.zip"), "bomb"),
    "no server_cfg": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": None}),
                      "no cfg/server_cfg.ini"),
    "no entry list": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/entry_list.ini": None}),
                      "no cfg/entry_list.ini"),
    "not utf-8": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        b"[SERVER]\nNAME=\xff\xfe\x00\n", 0o644)}), "not UTF-8"),
    "binary ini": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        b"\x00\x01\x02 garbage", 0o644)}), "unreadable"),
    "port too high": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        acpack.server_cfg((70000, 9600, 8081)).encode(), 0o644)}), "UDP_PORT=70000 is out of"),
    "port privileged": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        acpack.server_cfg((9600, 9600, 80)).encode(), 0o644)}), "HTTP_PORT=80 is out of range"),
    "port not a number": (lambda t: acpack.build(t / "p.tar.gz", {"cfg/server_cfg.ini": (
        acpack.server_cfg(HTTP_PORT="eighty").encode(), 0o644)}), "HTTP_PORT=eighty"),
    "windows only": (lambda t: acpack.build(t / "p.zip", {"acServer": None, "acServer.exe": (
        b"MZ\x90\x00", 0o644)}, kind="zip"), "a pack for Windows only"),
    "windows binary": (lambda t: acpack.build(t / "p.zip", {"acServer": (b"MZ\x90\x00", 0o755)},
                                              kind="zip"), "Windows program"),
    "no binary": (lambda t: acpack.build(t / "p.tar.gz", {"acServer": None}), "no server binary"),
    "two presets": (lambda t: acpack.build(t / "p.tar.gz", {"b/cfg/server_cfg.ini": (
        b"[SERVER]\nNAME=x\n", 0o644)}), "2 server_cfg.ini"),
    "not an archive": (lambda t: _written(t / "p.zip", b"PK no"), "not a readable"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_pack_is_refused_in_one_line_naming_why(case: str, tmp_path: Path) -> None:
    make, says = BAD[case]
    path = make(tmp_path)
    with pytest.raises(InvalidInput) as e:
        pack.read(path)
    assert says in e.value.message and "\n" not in e.value.message, e.value.message
    assert e.value.message.startswith(path.name)


def test_the_hint_for_a_windows_pack_says_how_content_manager_makes_one(tmp_path: Path) -> None:
    path = BAD["windows only"][0](tmp_path)
    with pytest.raises(InvalidInput) as e:
        pack.read(path)
    assert 'Target "Linux (64-bit)"' in (e.value.hint or "")
    assert "Include executable" in (e.value.hint or "")


def test_an_archive_over_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack, "MAX_TOTAL", 1000)
    with pytest.raises(InvalidInput, match="more than 1000"):
        pack.read(acpack.build(tmp_path / "p.tar.gz"))
    monkeypatch.setattr(pack, "MAX_MEMBERS", 3)
    with pytest.raises(InvalidInput, match="more than 3 members"):
        pack.read(acpack.build(tmp_path / "q.tar.gz"))


def test_write_own_puts_the_preset_and_the_given_config_in_a_new_directory(tmp_path: Path) -> None:
    plan = pack.read(acpack.build(tmp_path / "p.tar.gz", {"setups/s.ini": (b"[X]", 0o644)}))
    config = acserver.with_ports(plan.server_cfg, {"udp": 9700, "tcp": 9700, "http": 8181})
    tops = pack.write_own(plan, tmp_path / "new", config)
    assert tops == ["cfg", "setups"]
    assert (tmp_path / "new/cfg/server_cfg.ini").read_text() == config
    assert (tmp_path / "new/cfg/entry_list.ini").read_bytes() == (
        acpack.FIXTURES / "entry_list.ini"
    ).read_bytes()
    assert not (tmp_path / "new/content").exists() and not (tmp_path / "new/acServer").exists()


# warlockd.acserver: the INI and the start step


def test_with_ports_changes_the_three_lines_and_keeps_every_other_byte() -> None:
    text = (acpack.FIXTURES / "server_cfg.ini").read_text(encoding="utf-8")
    new = acserver.with_ports(text, {"udp": 9601, "tcp": 9602, "http": 8090})
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [("UDP_PORT=9610", "UDP_PORT=9601"), ("TCP_PORT=9610", "TCP_PORT=9602"),
                       ("HTTP_PORT=8082", "HTTP_PORT=8090")]  # fmt: skip
    assert acserver.with_ports(new, {"udp": 9601, "tcp": 9602, "http": 8090}) == new
    assert acserver.display_name(text) == "akina"


def test_with_ports_adds_what_a_preset_lacks_in_its_server_section() -> None:
    new = acserver.with_ports("[SERVER]\nNAME=x\n\n[RACE]\nLAPS=5\n", {"udp": 9600, "http": 8081})
    assert new == "[SERVER]\nNAME=x\nHTTP_PORT=8081\nUDP_PORT=9600\n\n[RACE]\nLAPS=5\n"


def _install(tmp_path: Path) -> Path:
    plan = pack.read(acpack.build(tmp_path / "p.tar.gz"))
    return pack.install(plan, tmp_path / "apps", "guid").path


def test_prepare_links_the_build_writes_the_ports_and_makes_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = _install(tmp_path)
    game = tmp_path / "data"
    (game / "cfg").mkdir(parents=True)
    (game / "cfg/server_cfg.ini").write_bytes(b"\xef\xbb\xbf" + acpack.server_cfg().encode())
    monkeypatch.chdir(game)
    acserver.prepare(install, {"udp": 9611, "tcp": 9612, "http": 8091})
    assert (game / "content").resolve() == install / "content"
    assert (game / "system").readlink() == install / "system"
    raw = (game / "cfg/server_cfg.ini").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # written back as it was stored
    text = raw.decode("utf-8-sig")
    assert "UDP_PORT=9611\n" in text and "TCP_PORT=9612\n" in text and "HTTP_PORT=8091\n" in text
    assert (game / "results").is_dir()
    moved = tmp_path / "elsewhere"
    (moved / "content").mkdir(parents=True)
    (moved / "system").mkdir()
    acserver.prepare(moved, {"udp": 9611, "tcp": 9612, "http": 8091})  # the build moved
    assert (game / "content").readlink() == moved / "content"


def test_prepare_seeds_cfg_from_a_steamcmd_install_and_keeps_an_admins_own_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = tmp_path / "steam"
    (install / "cfg").mkdir(parents=True)
    (install / "cfg/server_cfg.ini").write_text(acpack.server_cfg())
    (install / "cfg/entry_list.ini").write_text("[CAR_0]\nMODEL=x\n")
    (install / "content").mkdir()
    game = tmp_path / "data"
    (game / "content").mkdir(parents=True)
    monkeypatch.chdir(game)
    acserver.prepare(install, {"udp": 9700, "tcp": 9700, "http": 8100})
    assert (game / "content").is_dir() and not (game / "content").is_symlink()
    assert "HTTP_PORT=8100" in (game / "cfg/server_cfg.ini").read_text()
    assert (game / "cfg/entry_list.ini").read_text() == "[CAR_0]\nMODEL=x\n"


def test_the_start_step_refuses_bad_arguments_and_a_directory_without_cfg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert acserver.main(["/x", "1"]) == 2
    monkeypatch.chdir(tmp_path)  # main() moves into the game's directory: back after the test
    with pytest.raises(SystemExit, match=r"no cfg/server_cfg\.ini"):
        acserver.main([str(tmp_path), str(tmp_path / "none"), "9600", "9600", "8081"])


def test_a_real_tar_reader_sees_what_content_manager_writes(tmp_path: Path) -> None:
    """The pack builder writes what the real one does: a gzip'd tar for Linux."""
    path = acpack.build(tmp_path / "p.tar.gz")
    with tarfile.open(path) as tf:
        names = tf.getnames()
        member = tf.extractfile("acServer")
        assert member is not None and member.read(2) == b"#!"
    assert "cfg/server_cfg.ini" in names and io.BytesIO(path.read_bytes()).read(2) == b"\x1f\x8b"
