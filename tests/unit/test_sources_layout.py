"""The builds directory shared by the sources: current build, staging, pruning, dispatch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput
from warlockd.sources import (
    CURRENT,
    InstallSpec,
    check_update,
    current_build,
    install,
    installed,
    promote,
    prune,
    staging,
)

GUID = "0f4b6c1e-9a2d-4e3f-8b7c-1d2e3f4a5b6c"


def builds(apps: Path, *names: str, current: str | None = None) -> Path:
    app = apps / GUID
    for i, name in enumerate(names):
        (app / name).mkdir(parents=True)
        (app / name / "server").write_text(name)
        os.utime(app / name, (1_000_000 + i, 1_000_000 + i))  # later names are newer
    if current:
        (app / CURRENT).write_text(current + "\n")
    return app


def test_prune_removes_builds_no_instance_uses(tmp_path: Path) -> None:
    app = builds(tmp_path, "100", "200", "300", current="300")
    (app / ".staging-abc").mkdir()
    (app / ".steam-home").mkdir()
    removed = prune(tmp_path, GUID, keep={"200"})
    assert removed == [app / "100"]
    assert sorted(p.name for p in app.iterdir()) == [
        ".current",
        ".staging-abc",
        ".steam-home",
        "200",
        "300",
    ]


def test_prune_never_removes_the_current_or_the_last_build(tmp_path: Path) -> None:
    app = builds(tmp_path, "100", "200", current="100")
    assert prune(tmp_path, GUID, keep=set()) == [app / "200"]
    assert prune(tmp_path, GUID, keep=set()) == []
    assert (app / "100" / "server").is_file()
    app2 = builds(tmp_path / "other", "100", "200")  # no current marker: the newest stays
    assert prune(tmp_path / "other", GUID, keep=set()) == [app2 / "100"]
    assert (app2 / "200").is_dir()


def test_prune_touches_nothing_outside_the_apps_directory(tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep me")
    app = builds(tmp_path / "apps", "100", current="100")
    (app / "link").symlink_to(outside)
    assert prune(tmp_path / "apps", GUID, keep=set()) == []
    assert (outside / "data").read_text() == "keep me"
    with pytest.raises(InvalidInput):
        prune(tmp_path / "apps", "../precious", keep=set())
    assert prune(tmp_path / "apps", "no-such-guid", keep=set()) == []


def test_staging_is_removed_on_failure_and_promoted_on_success(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staging(tmp_path, GUID) as staged:
        (staged / "partial").write_text("x")
        raise RuntimeError("interrupted")
    assert list((tmp_path / GUID).iterdir()) == []
    with staging(tmp_path, GUID) as staged:
        (staged / "server").write_text("x")
        target = promote(staged, tmp_path, GUID, "42")
    assert sorted(p.name for p in (tmp_path / GUID).iterdir()) == [CURRENT, "42"]
    assert (target / "server").read_text() == "x"
    assert current_build(tmp_path, GUID) == "42"


def test_a_current_marker_naming_a_missing_or_bad_build_is_ignored(tmp_path: Path) -> None:
    (tmp_path / GUID).mkdir()
    (tmp_path / GUID / CURRENT).write_text("99\n")
    assert current_build(tmp_path, GUID) is None
    (tmp_path / GUID / CURRENT).write_text("../../etc\n")
    assert current_build(tmp_path, GUID) is None


def test_bundled_apps_have_nothing_to_install_or_update(tmp_path: Path) -> None:
    spec = InstallSpec("bundled")
    assert check_update(spec, tmp_path, GUID) is None
    with pytest.raises(InvalidInput, match="has nothing to install"):
        install(spec, tmp_path, GUID, lambda m: None)
    with pytest.raises(InvalidInput):
        installed(spec, tmp_path, GUID)
