"""Fixtures for tests that need a real systemd (booted in a throw-away container).

Without root or systemd-nspawn these tests are skipped; with
WARLOCK_REQUIRE_SYSTEMD=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, available

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs a real systemd (booted in a throw-away container)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def systemd_available() -> None:
    """Skip (or fail, with WARLOCK_REQUIRE_SYSTEMD=1) when no container can boot."""
    ok, reason = available()
    if not ok:
        if os.environ.get("WARLOCK_REQUIRE_SYSTEMD") == "1":
            pytest.fail(f"WARLOCK_REQUIRE_SYSTEMD=1 but: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def container(systemd_available: None) -> Iterator[SystemdContainer]:
    """One booted container shared by the whole session."""
    with SystemdContainer() as booted:
        yield booted


@pytest.fixture
def container_factory(
    systemd_available: None,
) -> Iterator[Callable[..., SystemdContainer]]:
    """Boot extra, test-private containers (closed at the end of the test)."""
    started: list[SystemdContainer] = []

    def boot(**kwargs: Any) -> SystemdContainer:
        booted = SystemdContainer(**kwargs).start()
        started.append(booted)
        return booted

    yield boot
    for booted in started:
        booted.close()
