"""The archive source with install.filename: one verified file kept whole (a .jar), not unpacked."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput, WarlockError
from warlockd.manifest import parse_manifest
from warlockd.sources import CURRENT, Build, InstallSpec, check_update, install, installed

GUID = "5a1c0e7b-3d2f-4b6a-9c8e-7f6d5e4c3b2a"


def make_jar(path: Path) -> Path:
    """A jar is a zip: unpacking it would leave META-INF/ and no server.jar."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Main\n")
        zf.writestr("Main.class", b"\xca\xfe\xba\xbe")
    return path


def file_spec(
    path: Path, filename: str | None = "server.jar", sha: str | None = None
) -> InstallSpec:
    digest = sha or hashlib.sha256(path.read_bytes()).hexdigest()
    return InstallSpec("archive", url=path.as_uri(), sha256=digest, filename=filename)


def nothing_left(apps: Path) -> bool:
    """No build, no staging directory, no partial download."""
    return not (apps / GUID).exists() or not any((apps / GUID).iterdir())


def test_the_verified_download_is_kept_whole_under_its_name(tmp_path: Path) -> None:
    source = make_jar(tmp_path / "download.bin")
    spec, apps, messages = file_spec(source), tmp_path / "apps", list[str]()
    assert spec.sha256 is not None
    build_id = spec.sha256[:12]
    assert installed(spec, apps, GUID) is None
    assert check_update(spec, apps, GUID) == build_id
    build = install(spec, apps, GUID, messages.append)
    root = apps / GUID / build_id
    assert build == Build(root, build_id)
    assert [p.name for p in root.iterdir()] == ["server.jar"]  # not unpacked: no META-INF/
    assert (root / "server.jar").read_bytes() == source.read_bytes()
    assert stat.S_IMODE((root / "server.jar").stat().st_mode) == 0o644
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert sorted(p.name for p in (apps / GUID).iterdir()) == [CURRENT, build_id]
    assert (apps / GUID / CURRENT).read_text().strip() == build_id
    assert installed(spec, apps, GUID) == build
    assert check_update(spec, apps, GUID) is None
    assert any("stored" in m for m in messages)


def test_installing_again_reuses_the_file_without_downloading(tmp_path: Path) -> None:
    source = make_jar(tmp_path / "server.jar")
    spec = file_spec(source)
    first = install(spec, tmp_path / "apps", GUID, lambda m: None)
    source.unlink()
    assert install(spec, tmp_path / "apps", GUID, lambda m: None) == first


def test_a_sha256_mismatch_keeps_nothing(tmp_path: Path) -> None:
    source = make_jar(tmp_path / "server.jar")
    actual = hashlib.sha256(source.read_bytes()).hexdigest()
    spec = file_spec(source, sha="0" * 64)
    apps = tmp_path / "apps"
    with pytest.raises(WarlockError) as e:
        install(spec, apps, GUID, lambda m: None)
    assert e.value.message == f"{spec.url} has sha256 {actual}, expected {'0' * 64}"
    assert nothing_left(apps)
    assert installed(spec, apps, GUID) is None


def test_any_file_is_kept_as_it_is_even_one_that_is_no_archive(tmp_path: Path) -> None:
    source = tmp_path / "tool"
    source.write_bytes(b"#!/bin/sh\necho not an archive\n")
    build = install(file_spec(source, filename="tool.sh"), tmp_path / "apps", GUID, print)
    assert (build.path / "tool.sh").read_bytes() == source.read_bytes()
    assert stat.S_IMODE((build.path / "tool.sh").stat().st_mode) == 0o644  # never executable


def test_a_missing_file_url_fails_and_keeps_nothing(tmp_path: Path) -> None:
    spec = InstallSpec(
        "archive", url=(tmp_path / "gone.jar").as_uri(), sha256="a" * 64, filename="server.jar"
    )
    with pytest.raises(WarlockError, match="could not download file://"):
        install(spec, tmp_path / "apps", GUID, lambda m: None)
    assert nothing_left(tmp_path / "apps")


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../server.jar", "a/server.jar", "/tmp/server.jar", ".hidden", "a b"]
)
def test_a_filename_that_is_not_a_plain_name_is_refused_before_downloading(
    tmp_path: Path, name: str
) -> None:
    source = make_jar(tmp_path / "server.jar")
    with pytest.raises(InvalidInput):
        install(file_spec(source, filename=name), tmp_path / "apps", GUID, lambda m: None)
    assert nothing_left(tmp_path / "apps")


def _manifest(install_table: Mapping[str, object]) -> dict[str, object]:
    return {
        "guid": GUID,
        "slug": "jar",
        "title": "A jar",
        "run": {"command": ["/usr/bin/java", "-jar", "{{ install_path }}/server.jar"]},
        "ports": [{"key": "game", "protocol": "tcp", "default": 25565}],
        "install": install_table,
    }


def test_a_manifest_names_the_file_to_keep() -> None:
    table = {"source": "archive", "url": "https://example.com/x/server.jar",
             "sha256": "a" * 64, "filename": "server.jar"}  # fmt: skip
    app = parse_manifest(Path("jar.toml"), _manifest(table))
    assert app.install.filename == "server.jar"
    assert app.install.strip_components == 0
    del table["filename"]
    assert parse_manifest(Path("jar.toml"), _manifest(table)).install.filename is None  # unpacked


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"filename": "../server.jar"}, "install.filename"),
        ({"filename": "lib/server.jar"}, "install.filename"),
        ({"filename": 3}, "install.filename"),
        ({"filename": "server.jar", "strip_components": 1}, "install.strip_components"),
    ],
)
def test_a_manifest_with_a_bad_filename_says_which_key(extra: dict[str, object], key: str) -> None:
    table = {"source": "archive", "url": "https://example.com/server.jar", "sha256": "a" * 64}
    with pytest.raises(InvalidInput) as e:
        parse_manifest(Path("jar.toml"), _manifest({**table, **extra}))
    assert f": {key}: expected" in e.value.message
