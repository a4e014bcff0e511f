"""The archive source: file:// downloads, sha256 before unpacking, and safe unpacking."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput, WarlockError
from warlockd.sources import CURRENT, Build, InstallSpec, check_update, install, installed
from warlockd.sources import archive as ar

GUID = "0f4b6c1e-9a2d-4e3f-8b7c-1d2e3f4a5b6c"
Entry = tuple[str, str, str | bytes]  # kind, name, content or link target


def make_tar(path: Path, entries: list[Entry], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for kind, name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o644
            if kind == "file":
                raw = data if isinstance(data, bytes) else data.encode()
                ti.size = len(raw)
                tf.addfile(ti, io.BytesIO(raw))
                continue
            ti.type = {"exe": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                       "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
                       "fifo": tarfile.FIFOTYPE, "suid": tarfile.REGTYPE}[kind]  # fmt: skip
            if kind in ("sym", "hard"):
                ti.linkname = str(data)
            if kind in ("exe", "suid"):
                raw = str(data).encode()
                ti.size, ti.mode = len(raw), 0o4755 if kind == "suid" else 0o755
                tf.addfile(ti, io.BytesIO(raw))
                continue
            ti.mode = 0o755 if kind == "dir" else 0o644
            tf.addfile(ti)
    return path


def make_zip(path: Path, entries: list[Entry]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for kind, name, data in entries:
            zi = zipfile.ZipInfo(name)
            if kind == "sym":
                zi.external_attr = (stat.S_IFLNK | 0o777) << 16
            elif kind == "exe":
                zi.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(zi, data)
    return path


def spec_for(path: Path, strip: int = 0, sha: str | None = None) -> InstallSpec:
    digest = sha or hashlib.sha256(path.read_bytes()).hexdigest()
    return InstallSpec("archive", url=path.as_uri(), sha256=digest, strip_components=strip)


def nothing_left(apps: Path) -> bool:
    """No build, no staging, no download: the app directory is empty or absent."""
    return not (apps / GUID).exists() or not any((apps / GUID).iterdir())


GOOD: list[Entry] = [
    ("dir", "server-1.0", ""),
    ("dir", "server-1.0/bin", ""),
    ("exe", "server-1.0/bin/run.sh", "#!/bin/sh\necho hi\n"),
    ("file", "server-1.0/data/world.dat", b"\x00\x01"),
    ("sym", "server-1.0/current", "bin/run.sh"),
    ("sym", "server-1.0/bin/data", "../data"),
    ("hard", "server-1.0/data/copy.dat", "server-1.0/data/world.dat"),
    ("suid", "server-1.0/bin/helper", "x"),
]


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar.xz"])
def test_a_good_tarball_becomes_a_build_named_by_its_hash(tmp_path: Path, suffix: str) -> None:
    mode = "w:xz" if suffix == ".tar.xz" else "w:gz"
    spec = spec_for(make_tar(tmp_path / f"server{suffix}", GOOD, mode), strip=1)
    apps, messages = tmp_path / "apps", list[str]()
    assert installed(spec, apps, GUID) is None
    assert spec.sha256 is not None
    assert check_update(spec, apps, GUID) == spec.sha256[:12]
    build = install(spec, apps, GUID, messages.append)
    root = apps / GUID / spec.sha256[:12]
    assert build == Build(root, spec.sha256[:12])
    assert (root / "bin" / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((root / "bin" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "bin" / "helper").stat().st_mode) == 0o755  # no setuid
    assert stat.S_IMODE((root / "data" / "world.dat").stat().st_mode) == 0o644
    assert os.readlink(root / "current") == "bin/run.sh"
    assert (root / "bin" / "data" / "world.dat").read_bytes() == b"\x00\x01"
    assert (root / "data" / "copy.dat").stat().st_ino == (root / "data" / "world.dat").stat().st_ino
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert sorted(p.name for p in (apps / GUID).iterdir()) == [CURRENT, spec.sha256[:12]]
    assert installed(spec, apps, GUID) == build
    assert check_update(spec, apps, GUID) is None
    assert messages


def test_the_download_reports_its_progress_against_its_length(tmp_path: Path) -> None:
    big = tmp_path / "server.bin"
    big.write_bytes(os.urandom(3 << 20))  # several chunks
    spec = spec_for(big)._replace(filename="server.bin")
    seen: list[tuple[int, int | None]] = []
    install(spec, tmp_path / "apps", GUID, lambda m: None, lambda d, t: seen.append((d, t)))
    assert len(seen) > 1 and seen[-1] == (3 << 20, 3 << 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_good_zip_keeps_exec_bits_and_inside_symlinks(tmp_path: Path) -> None:
    entries: list[Entry] = [
        ("dir", "pkg/", ""),
        ("exe", "pkg/server", "#!/bin/sh\n"),
        ("file", "pkg/readme.txt", "hello"),
        ("sym", "pkg/start", "server"),
    ]
    spec = spec_for(make_zip(tmp_path / "server.zip", entries), strip=1)
    build = install(spec, tmp_path / "apps", GUID, lambda m: None)
    assert (build.path / "readme.txt").read_text() == "hello"
    assert stat.S_IMODE((build.path / "server").stat().st_mode) == 0o755
    assert stat.S_IMODE((build.path / "readme.txt").stat().st_mode) == 0o644
    assert os.readlink(build.path / "start") == "server"


def test_installing_again_reuses_the_build_without_downloading(tmp_path: Path) -> None:
    source = make_tar(tmp_path / "s.tar.gz", [("file", "a.txt", "a")])
    spec = spec_for(source)
    first = install(spec, tmp_path / "apps", GUID, lambda m: None)
    source.unlink()
    assert install(spec, tmp_path / "apps", GUID, lambda m: None) == first


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([("file", "ok.txt", "x"), ("file", "../evil.txt", "x")],
         "'../evil.txt': '..' leaves the target directory"),
        ([("file", "a/../../evil.txt", "x")], "'..' leaves the target directory"),
        ([("file", "/etc/evil.conf", "x")], "'/etc/evil.conf': absolute path"),
        ([("sym", "link", "/etc/passwd")], "'link': symlink to the absolute path '/etc/passwd'"),
        ([("sym", "a/link", "../../etc")], "'a/link': symlink to '../../etc', outside the archive"),
        ([("hard", "pw", "/etc/passwd")], "'pw': hardlink to '/etc/passwd': absolute path"),
        ([("hard", "pw", "../../etc/passwd")], "hardlink to '../../etc/passwd': '..' leaves"),
        ([("hard", "pw", "nothere")], "'pw': hardlink to 'nothere': not a file earlier"),
        ([("chr", "dev/null", "")], "'dev/null': device, fifo or other special file"),
        ([("fifo", "pipe", "")], "'pipe': device, fifo or other special file"),
        ([("file", "a", "1"), ("file", "a", "2")], "'a': appears twice"),
        ([("file", "../1", "x"), ("file", "/2", "x"), ("chr", "3", ""), ("file", "../4", "x")],
         "'../1': '..' leaves the target directory; '/2': absolute path; "
         "'3': device, fifo or other special file and 1 more"),
    ],
)  # fmt: skip
def test_unsafe_tarballs_are_refused_and_leave_nothing(
    tmp_path: Path, entries: list[Entry], problem: str
) -> None:
    spec = spec_for(make_tar(tmp_path / "bad.tar.gz", entries))
    apps = tmp_path / "apps"
    with pytest.raises(ar.UnsafeArchive) as e:
        install(spec, apps, GUID, lambda m: None)
    assert e.value.message.startswith(f"archive {spec.url} refused: ")
    assert problem in e.value.message
    assert "\n" not in str(e.value)
    assert nothing_left(apps)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "evil.txt").exists()


def test_a_chain_of_inside_symlinks_that_leads_out_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [
        ("dir", "a", ""),
        ("dir", "b", ""),
        ("sym", "a/l", "../b"),  # = b: inside
        ("sym", "x", "a/l/../.."),  # lexically ".", but a/l is b, so b/../.. is outside
    ]
    apps = tmp_path / "apps"
    with pytest.raises(ar.UnsafeArchive, match="'x': symlink resolves outside the archive"):
        install(spec_for(make_tar(tmp_path / "chain.tar.gz", entries)), apps, GUID, print)
    assert nothing_left(apps)


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([("file", "../evil.txt", "x")], "'../evil.txt': '..' leaves the target directory"),
        ([("file", "/abs.txt", "x")], "'/abs.txt': absolute path"),
        ([("file", "..\\evil.txt", "x")], "'..' leaves the target directory"),
        ([("sym", "link", "../../outside")], "'link': symlink to '../../outside', outside"),
    ],
)
def test_unsafe_zips_are_refused_and_leave_nothing(
    tmp_path: Path, entries: list[Entry], problem: str
) -> None:
    apps = tmp_path / "apps"
    with pytest.raises(ar.UnsafeArchive) as e:
        install(spec_for(make_zip(tmp_path / "bad.zip", entries)), apps, GUID, print)
    assert problem in e.value.message
    assert nothing_left(apps)


def test_a_sha256_mismatch_names_both_hashes_and_unpacks_nothing(tmp_path: Path) -> None:
    source = make_tar(tmp_path / "s.tar.gz", [("file", "a.txt", "a")])
    actual = hashlib.sha256(source.read_bytes()).hexdigest()
    spec = spec_for(source, sha="0" * 64)
    apps = tmp_path / "apps"
    with pytest.raises(WarlockError) as e:
        install(spec, apps, GUID, lambda m: None)
    assert e.value.message == f"{spec.url} has sha256 {actual}, expected {'0' * 64}"
    assert e.value.hint is not None and "install.sha256" in e.value.hint
    assert nothing_left(apps)


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "junk.tar.gz"
    source.write_bytes(b"not an archive at all")
    apps = tmp_path / "apps"
    with pytest.raises(ar.UnsafeArchive, match="not a readable tar or zip archive"):
        install(spec_for(source), apps, GUID, lambda m: None)
    assert nothing_left(apps)


def test_stripping_every_component_leaves_no_files_and_is_refused(tmp_path: Path) -> None:
    spec = spec_for(make_tar(tmp_path / "s.tar.gz", [("file", "top/a.txt", "a")]), strip=2)
    with pytest.raises(ar.UnsafeArchive, match=r"no files \(after stripping 2"):
        install(spec, tmp_path / "apps", GUID, lambda m: None)
    assert nothing_left(tmp_path / "apps")


def test_a_missing_download_is_one_line_with_a_hint(tmp_path: Path) -> None:
    spec = InstallSpec("archive", url=(tmp_path / "gone.tar.gz").as_uri(), sha256="a" * 64)
    with pytest.raises(WarlockError, match="could not download file://") as e:
        install(spec, tmp_path / "apps", GUID, lambda m: None)
    assert e.value.hint == "check install.url and the network"
    assert nothing_left(tmp_path / "apps")


@pytest.mark.parametrize(
    "spec",
    [
        InstallSpec("archive", url="ftp://example.com/x.tgz", sha256="a" * 64),
        InstallSpec("archive", url="https://example.com/x.tgz", sha256="A" * 64),
        InstallSpec("archive", url=None, sha256="a" * 64),
        InstallSpec(
            "archive", url="https://example.com/x.tgz", sha256="a" * 64, strip_components=-1
        ),
    ],
)
def test_bad_specs_are_refused_before_any_download(tmp_path: Path, spec: InstallSpec) -> None:
    with pytest.raises(InvalidInput):
        install(spec, tmp_path / "apps", GUID, lambda m: None)
    assert nothing_left(tmp_path / "apps")


def test_plan_strips_components_and_skips_what_strip_removes() -> None:
    members = [
        ar.Member("top", "dir"),
        ar.Member("top/./bin//run", "file", mode=0o755),
        ar.Member("top/lib", "symlink", "bin"),
        ar.Member("top/copy", "hardlink", "top/bin/run"),
    ]
    planned = ar.plan(members, strip=1)
    assert [(p.dest, p.link) for p in planned] == [
        ("bin/run", ""),
        ("lib", "bin"),
        ("copy", "bin/run"),
    ]
