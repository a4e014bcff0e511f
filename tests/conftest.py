"""What every tier shares: a checkout where the integration and package tiers can run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Game units get a /tmp and /var/tmp of their own (PrivateTmp=yes): a runner in a checkout
# there is invisible to them.
_PRIVATE = (Path("/tmp"), Path("/var/tmp"))
_CONTAINER_TIERS = (REPO / "tests" / "integration", REPO / "tests" / "package")


def checkout_problem() -> str | None:
    for d in _PRIVATE:
        if REPO.is_relative_to(d):
            return (
                f"the checkout {REPO} is under {d}, which game units cannot see "
                "(PrivateTmp=yes gives each its own): clone it elsewhere, e.g. /opt/warlockd, "
                "for the integration and package tiers"
            )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = checkout_problem()
    tiers = [i for i in items if any(i.path.is_relative_to(t) for t in _CONTAINER_TIERS)]
    if problem is None or not tiers:
        return
    if os.environ.get("WARLOCK_REQUIRE_SYSTEMD") == "1":
        pytest.exit(problem, returncode=2)  # one line, not an error per test
    for item in tiers:
        item.add_marker(pytest.mark.skip(reason=problem))
