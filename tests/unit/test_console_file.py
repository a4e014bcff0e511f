"""The file console (console_file.py and console.send for `transport = "file"`), against a
fake of the Minetest mod: a thread that answers requests as warlock_console/init.lua does."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.support import ID_A, INSTALLERS
from warlockd import console, console_file
from warlockd.apps import load_manifest
from warlockd.console_file import Reply, exchange, parse_response, request_text
from warlockd.errors import InvalidInput, WarlockError
from warlockd.model import Instance

REQUEST, RESPONSE = "world/warlock-console.request", "world/warlock-console.response"
Answer = Callable[[str], tuple[str, str]]  # command -> (status, reply)


def test_a_request_is_its_id_and_time_then_the_command() -> None:
    assert request_text("ab12", 1700000000, "say hi") == "ab12 1700000000\nsay hi\n"
    with pytest.raises(InvalidInput):
        request_text("ab12", 1, "say hi\nshutdown")


def test_a_response_is_taken_only_for_its_own_request() -> None:
    assert parse_response("ab12 ok\nline 1\nline 2\n", "ab12") == Reply("ok", "line 1\nline 2")
    assert parse_response("ab12 unknown\nno such command: x\n", "ab12") == Reply(
        "unknown", "no such command: x"
    )
    assert parse_response("ffff ok\nold answer\n", "ab12") is None
    with pytest.raises(WarlockError, match="not a status"):
        parse_response("ab12 maybe\n", "ab12")


class FakeMod:
    """What warlock_console does every poll: read the request, remove it, write the reply
    beside the response and rename it over."""

    def __init__(self, data: Path, answer: Answer) -> None:
        self.data, self.answer = data, answer
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        request, response = self.data / REQUEST, self.data / RESPONSE
        while not self.stop.wait(0.02):
            try:
                text = request.read_text()
            except FileNotFoundError:
                continue
            request.unlink()
            head, _, command = text.partition("\n")
            self.seen.append(command.strip())
            status, reply = self.answer(command.strip())
            tmp = response.with_name(response.name + ".tmp")
            tmp.write_text(f"{head.split()[0]} {status}\n{reply}\n")
            tmp.rename(response)


@pytest.fixture
def mod(tmp_path: Path) -> Iterator[Callable[[Answer], FakeMod]]:
    mods: list[FakeMod] = []

    def start(answer: Answer) -> FakeMod:
        m = FakeMod(tmp_path / "inst" / "data", answer)
        m.thread.start()
        mods.append(m)
        return m

    (tmp_path / "inst" / "data" / "world").mkdir(parents=True)
    yield start
    for m in mods:
        m.stop.set()
        m.thread.join()


def _exchange(tmp_path: Path, command: str, timeout: float = 3.0) -> Reply:
    top = tmp_path / "inst"
    return exchange(top, top / "data", REQUEST, RESPONSE, command, timeout=timeout)


def test_the_reply_the_game_writes_comes_back_and_both_files_are_gone(
    tmp_path: Path, mod: Callable[[Answer], FakeMod]
) -> None:
    fake = mod(lambda command: ("ok", f"ran {command}"))
    assert _exchange(tmp_path, "status") == Reply("ok", "ran status")
    assert fake.seen == ["status"]
    assert not list((tmp_path / "inst" / "data" / "world").iterdir())


def test_an_old_response_left_behind_is_not_taken_for_the_answer(
    tmp_path: Path, mod: Callable[[Answer], FakeMod]
) -> None:
    (tmp_path / "inst" / "data" / RESPONSE).write_text("0123456789abcdef ok\nold news\n")
    mod(lambda command: ("ok", "fresh"))
    assert _exchange(tmp_path, "time") == Reply("ok", "fresh")


def test_callers_at_once_take_turns_and_each_gets_its_own_reply(
    tmp_path: Path, mod: Callable[[Answer], FakeMod]
) -> None:
    mod(lambda command: ("ok", f"reply to {command}"))
    got: dict[str, Reply] = {}

    def call(n: int) -> None:
        got[f"c{n}"] = _exchange(tmp_path, f"c{n}")

    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {f"c{n}": Reply("ok", f"reply to c{n}") for n in range(4)}


def test_nobody_reading_times_out_and_takes_the_request_back(tmp_path: Path) -> None:
    (tmp_path / "inst" / "data" / "world").mkdir(parents=True)
    started = time.monotonic()
    with pytest.raises(WarlockError, match=r"did not read its console within 0\.3 s"):
        _exchange(tmp_path, "say hi", timeout=0.3)
    assert time.monotonic() - started < 1.0
    # a server started later must not run it
    assert not (tmp_path / "inst" / "data" / REQUEST).exists()


def test_a_link_planted_where_the_request_goes_is_refused_not_followed(tmp_path: Path) -> None:
    (tmp_path / "inst" / "data" / "world").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    (tmp_path / "inst" / "data" / REQUEST).symlink_to(victim)
    with pytest.raises(InvalidInput, match="symbolic link"):
        _exchange(tmp_path, "say hi", timeout=0.3)
    assert victim.read_text() == "root's file\n"


# --- console.send over the file transport ------------------------------------------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Instance]:
    """A minetest instance whose runner is up: something reads its console FIFO."""
    app = load_manifest(INSTALLERS / "minetest.toml")
    inst = Instance(
        ID_A, app.guid, "Blocks", str(tmp_path / "inst"), {"game": 30000}, "2026-01-01T00:00:00Z"
    )
    fifo = console.fifo_path(inst)
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    yield inst
    with contextlib.suppress(OSError):
        os.close(reader)


MINETEST = load_manifest(INSTALLERS / "minetest.toml")


def test_say_goes_through_the_mod_and_an_empty_reply_is_none(
    running: Instance, mod: Callable[[Answer], FakeMod]
) -> None:
    fake = mod(lambda command: ("ok", ""))
    assert console.send(running, MINETEST, "say hello from warlock") is None
    assert fake.seen == ["say hello from warlock"]


def test_a_command_s_reply_is_returned(running: Instance, mod: Callable[[Answer], FakeMod]) -> None:
    mod(lambda command: ("ok", "Current time is 6:30."))
    assert console.send(running, MINETEST, "time") == "Current time is 6:30."


def test_an_unknown_command_is_bad_input_and_a_failed_one_an_error_each_one_line(
    running: Instance, mod: Callable[[Answer], FakeMod]
) -> None:
    answers = {"nosuch": ("unknown", "no such command: nosuch"),
               "kick nobody": ("failed", "Failed to kick player nobody.\nsecond line")}  # fmt: skip
    mod(lambda command: answers[command])
    with pytest.raises(InvalidInput, match="no such command: nosuch"):
        console.send(running, MINETEST, "nosuch")
    with pytest.raises(WarlockError) as failed:
        console.send(running, MINETEST, "kick nobody")
    assert failed.value.message == (
        f"kick on {running.id} failed: Failed to kick player nobody. | second line"
    )


def test_a_stopped_instance_is_told_at_once_and_no_request_is_left(tmp_path: Path) -> None:
    inst = Instance(
        ID_A, MINETEST.guid, "Blocks", str(tmp_path / "inst"), {"game": 30000}, "2026-01-01"
    )
    (tmp_path / "inst" / "data" / "world").mkdir(parents=True)
    fifo = console.fifo_path(inst)
    os.mkfifo(fifo)  # left by the runner, which no longer reads it
    started = time.monotonic()
    with pytest.raises(WarlockError, match="is not reading its console"):
        console.send(inst, MINETEST, "say hi")
    assert time.monotonic() - started < console_file.TIMEOUT / 2
    assert not (tmp_path / "inst" / "data" / REQUEST).exists()
