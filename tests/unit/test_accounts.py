"""Instance users and what they can reach (the app's files, warlockd's runner)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from warlockd.accounts import SystemAccounts
from warlockd.errors import WarlockError


@pytest.mark.parametrize("where", ["/tmp/warlockd", "/var/tmp/x/warlockd"])
def test_a_checkout_under_a_private_tmp_is_refused_with_where_to_put_it(where: str) -> None:
    # game units have their own /tmp and /var/tmp: the runner there would not be found
    with pytest.raises(WarlockError, match="game units cannot see") as e:
        SystemAccounts().check_reachable(Path(where))
    assert e.value.hint is not None and "/opt/warlockd" in e.value.hint


def test_a_directory_others_cannot_enter_is_named() -> None:
    # not pytest's tmp_path: that is under /tmp, refused for being there first
    closed = Path(tempfile.mkdtemp(prefix="warlock-test-", dir="/srv"))  # mkdtemp: 0700
    try:
        (closed / "warlockd").mkdir()
        with pytest.raises(WarlockError, match=f"{closed} has no x bit for others"):
            SystemAccounts().check_reachable(closed / "warlockd")
    finally:
        shutil.rmtree(closed)


def test_an_open_path_is_reachable() -> None:
    SystemAccounts().check_reachable(Path("/usr/share"))
    assert os.access("/usr/share", os.X_OK)
