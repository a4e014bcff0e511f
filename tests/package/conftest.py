"""Fixtures of the package tier: the built .deb and a machine that can test it.

Everything here is marked `integration`. Without root, systemd-nspawn, debootstrap or the
Debian build tools these tests are skipped; with WARLOCK_REQUIRE_SYSTEMD=1 (CI) they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.container import available
from tests.package import bookworm

HERE = Path(__file__).parent
REPO = HERE.parents[1]
BUILD_TOOLS = ("dpkg-buildpackage", "dh", "lintian")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs a real systemd (booted in a throw-away container)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("WARLOCK_REQUIRE_SYSTEMD") == "1":
        pytest.fail(f"WARLOCK_REQUIRE_SYSTEMD=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def systemd_available() -> None:
    """Skip (or fail, with WARLOCK_REQUIRE_SYSTEMD=1) when no clean bookworm can boot."""
    ok, reason = available()
    if not ok:
        _skip_or_fail(reason)
    missing = bookworm.missing_tools()
    if missing:
        _skip_or_fail(f"missing tools: {', '.join(missing)} (apt install debootstrap)")


@pytest.fixture(scope="session")
def deb() -> Path:
    """The package: $WARLOCK_DEB if set, else built now by scripts/build-deb (no unit tier:
    it runs on its own; no lintian: test_deb checks that itself) into build/deb/."""
    given = os.environ.get("WARLOCK_DEB")
    if given:
        return Path(given).resolve()
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool, path="/usr/bin") is None]
    if missing:
        _skip_or_fail(
            f"missing build tools: {', '.join(missing)} (apt install debhelper dh-python "
            "pybuild-plugin-pyproject python3-all python3-setuptools lintian)"
        )
    result = subprocess.run(
        [str(REPO / "scripts" / "build-deb"), "--no-check", "--no-lint"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"scripts/build-deb failed:\n{result.stdout}{result.stderr}"
    debs = sorted((REPO / "build" / "deb").glob("warlockd_*_all.deb"))
    assert len(debs) == 1, debs
    return debs[0]
