"""Bash completion, generated from the table, run in a real bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.unit.support import ID_A, World
from warlockd.actions.create import CreateRequest, create
from warlockd.commands import TABLE
from warlockd.completion import script


@pytest.fixture
def completion(world: World, tmp_path: Path) -> Path:
    create(world.host, CreateRequest("example", "a", ID_A))
    create(world.host, CreateRequest("example", "d"))
    extra = world.paths.extra_installers
    extra.mkdir(parents=True)
    (extra / "mygame.toml").write_text("")
    path = tmp_path / "warlock.bash"
    path.write_text(script(world.paths))
    return path


def complete(script_path: Path, *words: str) -> list[str]:
    """What Tab offers after `words` (the last one is the word being typed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    code = (
        f"source {script_path}\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
        '_warlock\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == ""
    return sorted(w for w in out.stdout.splitlines() if w)


def test_the_script_is_valid_bash(completion: Path) -> None:
    subprocess.run(["bash", "-n", str(completion)], check=True)


def test_commands_complete_in_both_spellings(completion: Path) -> None:
    assert complete(completion, "manage.py", "st") == ["start", "status", "stop"]
    assert complete(completion, "manage.py", "--get-") == [
        "--get-commands",
        "--get-configs",
        "--get-metrics",
        "--get-ports",
        "--get-services",
    ]
    assert complete(completion, "manage.py", "") == sorted(c.name for c in TABLE)


def test_a_commands_own_options_complete_after_it(completion: Path) -> None:
    assert complete(completion, "warlock", "backup", "--") == [
        "--debug",
        "--help",
        "--instance",
        "--keep",
        "--max-backups",
        "--service",
        "--to",
    ]
    assert "--app" in complete(completion, "warlock", "create", "--a")


def test_instance_ids_services_and_apps_complete(completion: Path, world: World) -> None:
    ids = sorted(i.id for i in world.host.registry.all())
    assert len(ids) == 2 and ID_A in ids
    assert complete(completion, "manage.py", "--instance", "") == ids
    assert complete(completion, "manage.py", "start", "-i", ID_A[:4]) == [ID_A]
    assert complete(completion, "manage.py", "--service", "game@") == [f"game@{i}" for i in ids]
    assert complete(completion, "manage.py", "create", "--app", "") == [
        "ark-sa", "cs2", "example", "minecraft", "minetest", "mygame", "openarena", "palworld",
        "rust", "teeworlds", "valheim", "zomboid",
    ]  # fmt: skip


def test_a_value_that_is_not_a_name_completes_to_nothing(completion: Path) -> None:
    assert complete(completion, "manage.py", "logs", "--lines", "") == []
    assert complete(completion, "manage.py", "--instance", ID_A, "--cmd", "") == []
