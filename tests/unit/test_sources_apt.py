"""The apt source: parsing apt-cache/dpkg-query output, version order, and real lookups."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput, NotFound
from warlockd.sources import InstallSpec, apt, install, installed

POLICY = """\
bash:
  Installed: 5.2.15-2+b8
  Candidate: 5.2.15-2+b13
  Version table:
     5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 5.2.15-2+b8 100
        100 /var/lib/dpkg/status
coreutils:
  Installed: 9.1-1
  Candidate: 9.1-1
  Version table:
 *** 9.1-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
openarena-server:
  Installed: (none)
  Candidate: 0.8.8+dfsg-6
  Version table:
     0.8.8+dfsg-6 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
"""
needs_apt = pytest.mark.skipif(
    not (shutil.which("apt-cache") and shutil.which("dpkg-query")), reason="not a Debian host"
)


def spec(*packages: str) -> InstallSpec:
    return InstallSpec("apt", packages=packages)


def test_policy_output_is_parsed_per_package() -> None:
    assert apt.parse_policy(POLICY) == {
        "bash": apt.Policy("5.2.15-2+b8", "5.2.15-2+b13"),
        "coreutils": apt.Policy("9.1-1", "9.1-1"),
        "openarena-server": apt.Policy(None, "0.8.8+dfsg-6"),
        "mail-transport-agent": apt.Policy(None, None),
    }
    assert apt.parse_policy("") == {}


def test_dpkg_query_lines_give_installed_versions_only() -> None:
    out = (
        "bash\tinstall ok installed\t5.2.15-2+b8\n"
        "libc6:amd64\tinstall ok installed\t2.36-9+deb12u14\n"
        "oldpkg\tdeinstall ok config-files\t1.0\n"
        "halfpkg\tinstall ok half-configured\t2.0\n"
    )
    found = apt.parse_dpkg_query(out)
    assert found == {"bash": "5.2.15-2+b8", "libc6:amd64": "2.36-9+deb12u14"}
    assert apt.lookup(found, "libc6") == "2.36-9+deb12u14"
    assert apt.lookup(found, "libc6:amd64") == "2.36-9+deb12u14"
    assert apt.lookup(found, "libc6:i386") is None
    assert apt.lookup(found, "oldpkg") is None


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("5.2.15-2+b13", "5.2.15-2+b8", 1),
        ("1.0~rc1", "1.0", -1),
        ("1.0~~", "1.0~", -1),
        ("1:0.9", "2.0", 1),
        ("1.0", "1.0-0", 0),
        ("1.0a", "1.0", 1),
        ("1.0+dfsg", "1.0", 1),
        ("1.10", "1.9", 1),
        ("1.0-1", "1.0-1.1", -1),
        ("2.36-9+deb12u14", "2.36-9+deb12u9", 1),
        ("1.2-3", "1.2-3", 0),
        ("0.8.8+dfsg-6", "0.8.8-6", 1),
        ("1.0.0", "1.0", 1),
        ("1.001", "1.1", 0),
        ("1:1.0-1", "1:1.0-1~bpo12+1", 1),
    ],
)
def test_debian_versions_sort_as_dpkg_sorts_them(a: str, b: str, sign: int) -> None:
    got = apt.compare_versions(a, b)
    assert (got > 0) - (got < 0) == sign
    if shutil.which("dpkg"):  # the reference implementation agrees
        op = {1: "gt", 0: "eq", -1: "lt"}[sign]
        assert subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


def test_stale_packages_are_missing_or_older_than_the_candidate() -> None:
    policy = apt.parse_policy(POLICY)
    versions = {"bash": "5.2.15-2+b8", "coreutils": "9.1-1"}
    packages = ("bash", "coreutils", "openarena-server")
    assert apt.stale(packages, versions, policy) == ["bash", "openarena-server"]
    assert apt.newest(packages, versions, policy) == {
        "bash": "5.2.15-2+b13",
        "coreutils": "9.1-1",
        "openarena-server": "0.8.8+dfsg-6",
    }
    assert apt.build_id(apt.newest(packages, versions, policy), packages) == (
        "bash=5.2.15-2+b13,coreutils=9.1-1,openarena-server=0.8.8+dfsg-6"
    )


def test_unknown_and_virtual_packages_cannot_be_installed() -> None:
    policy = apt.parse_policy(POLICY)
    packages = ("bash", "mail-transport-agent", "nosuch", "openarena-server")
    assert apt.unknown(packages, policy) == ["mail-transport-agent", "nosuch"]


def test_a_candidate_older_than_the_installed_version_is_no_update() -> None:
    policy = {"local": apt.Policy("2.0", "1.0")}
    assert apt.stale(("local",), {"local": "2.0"}, policy) == []


@pytest.mark.parametrize("bad", ["-o=APT::x", "Upper", "a b", ""])
def test_package_names_that_could_be_options_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInput):
        installed(spec(bad), tmp_path, "g")


@needs_apt  # apt-cache policy of an unknown name prints nothing: offline-safe, no root
def test_a_package_that_does_not_exist_is_one_line_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as e:
        install(spec("warlock-no-such-package-xyz"), tmp_path, "g", lambda m: None)
    assert e.value.message == "Debian package 'warlock-no-such-package-xyz' not found"
    assert e.value.hint is not None and "apt-get update" in e.value.hint
    assert not list(tmp_path.iterdir())


@needs_apt
def test_installed_packages_give_a_build_in_usr(tmp_path: Path) -> None:
    build = installed(spec("coreutils", "libc6"), tmp_path, "g")
    assert build is not None
    assert build.path == Path("/")
    coreutils, libc6 = build.build_id.split(",")
    assert coreutils.startswith("coreutils=") and libc6.startswith("libc6=")
    assert installed(spec("coreutils", "warlock-no-such-package-xyz"), tmp_path, "g") is None
