from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.support import World, make_paths


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, make_paths(tmp_path))
