"""The runner's [[files]] step (runner_files.py), alone and in a runner that starts a game."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.support import REPO
from warlockd import runner_files
from warlockd.runner import parse


@pytest.fixture
def game_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runner's working directory: the game's."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_file_is_written_whole_for_its_user_alone_in_new_directories(
    game_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARLOCK_FILE_0", 'ec_password "s3cret"\\n# two lines')
    logged: list[str] = []
    assert runner_files.put([("--file", "cfg/econ.cfg=WARLOCK_FILE_0")], logged.append)
    path = game_dir / "cfg" / "econ.cfg"
    assert path.read_text() == 'ec_password "s3cret"\n# two lines\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list((game_dir / "cfg").glob("*.warlock-tmp")) and logged == []


def test_a_link_is_made_and_replaces_the_link_there_but_never_a_real_directory(
    game_dir: Path,
) -> None:
    (game_dir / "mods").mkdir()
    (game_dir / "mods" / "old").symlink_to("/nowhere")
    (game_dir / "mods" / "admins").mkdir()  # an admin's own copy
    options = [("--link", "mods/old=/usr/share/mod"), ("--link", "mods/admins=/usr/share/mod"),
               ("--link", "world/worldmods/m=/usr/share/mod")]  # fmt: skip
    logged: list[str] = []
    assert runner_files.put(options, logged.append)
    assert os.readlink(game_dir / "mods" / "old") == "/usr/share/mod"
    assert os.readlink(game_dir / "world" / "worldmods" / "m") == "/usr/share/mod"
    assert (game_dir / "mods" / "admins").is_dir() and not (
        game_dir / "mods" / "admins"
    ).is_symlink()
    assert logged == [
        "mods/old: its target /usr/share/mod does not exist",
        "mods/admins is not a symbolic link: left as it is (not linked to /usr/share/mod)",
        "world/worldmods/m: its target /usr/share/mod does not exist",
    ]


@pytest.mark.parametrize("value", ["/etc/passwd=X", "../up=X", "a/../../b=X", "noequals"])
def test_a_path_outside_the_game_s_directory_fails_the_step_and_leaves_nothing(
    game_dir: Path, value: str
) -> None:
    logged: list[str] = []
    options = [("--file", "first.cfg=WARLOCK_FILE_0"), ("--file", value)]
    assert not runner_files.put(options, logged.append)
    assert "expected a relative PATH=" in logged[0]
    assert not (game_dir / "first.cfg").exists()  # the one already written is taken back


def test_remove_takes_away_the_files_to_remove_and_keeps_the_others(game_dir: Path) -> None:
    options = [("--file", "a=V"), ("--file-keep", "b=V"), ("--link", "c=/x")]
    assert runner_files.put(options, print)
    runner_files.remove(options)
    assert not (game_dir / "a").exists()
    assert (game_dir / "b").exists() and (game_dir / "c").is_symlink()


def test_the_runner_s_command_line_takes_file_and_link_options() -> None:
    opts = parse(["--file", "a=V", "--file-keep", "b=W", "--link", "c=/x", "--", "game"])
    assert opts.files == [("--file", "a=V"), ("--file-keep", "b=W"), ("--link", "c=/x")]


# --- in a runner ----------------------------------------------------------------------------

GAME = """
import os, socket, sys, time
# what the game saw when it started, then it binds its port (ready) and waits
seen = open('secret.cfg').read() + '|' + os.readlink('mods/m') + '|'
seen += ','.join(k for k in os.environ if k.startswith('WARLOCK_FILE_'))
open('seen', 'w').write(seen)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()
time.sleep(30)
"""


@pytest.fixture
def notify() -> Iterator[tuple[socket.socket, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="runner-") as d,  # AF_UNIX paths are short
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s,
    ):
        s.bind(os.path.join(d, "notify"))
        yield s, os.path.join(d, "notify")


def test_the_game_finds_its_files_at_start_and_the_secret_one_is_gone_once_it_is_ready(
    tmp_path: Path, notify: tuple[socket.socket, str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sock, address = notify
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": address,
           "WARLOCK_FILE_0": "password s3cret"}  # fmt: skip
    argv = [sys.executable, "-m", "warlockd.runner", "--ports", f"tcp:{port}",
            "--stop-timeout", "5", "--file", "secret.cfg=WARLOCK_FILE_0",
            "--link", "mods/m=/usr/share/mod",
            "--", sys.executable, "-c", GAME, str(port)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        sock.settimeout(10)
        while b"READY=1" not in sock.recv(4096):
            pass
        # removed before READY=1 was sent
        assert (tmp_path / "seen").read_text() == "password s3cret\n|/usr/share/mod|"
        assert not (tmp_path / "secret.cfg").exists()
        assert os.readlink(tmp_path / "mods" / "m") == "/usr/share/mod"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
