"""The runner with --link: the game's output goes through it, on to its own stdout (the
journal) unchanged, and the join link found in it goes into STATUS= after the status."""

from __future__ import annotations

import os
import selectors
import sys

import pytest

from tests.unit import test_runner
from tests.unit.test_runner import REPO, Start, free_port
from warlockd.apps import load_manifest
from warlockd.runner import parse
from warlockd.runner_output import MAX_PENDING, GameOutput

start = test_runner.start  # the runner's fixtures, for these tests too
notify_socket = test_runner.notify_socket
PATTERN = str(load_manifest(REPO / "installers/assetto-corsa.toml").link)
LINK = "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort={port}"

# A game that binds its TCP port, then prints (to stdout and stderr, with a line cut in two
# writes and a very long one) the lines of AssettoServer's start, then waits for SIGTERM.
GAME = r"""
import os, signal, socket, sys, time
port = int(os.environ["SERVER_PORT"])
tcp = socket.create_server(("0.0.0.0", port))
print("Assetto Corsa Dedicated Server v1.15", flush=True)
print("x" * 70000, flush=True)
sys.stderr.write("[19:25:24 INF] Lobby registration successful\n"); sys.stderr.flush()
time.sleep(0.3)
sys.stdout.write("[19:25:24 INF] Server invite link: https://acstuff.ru/s/q:race/")
sys.stdout.flush()
time.sleep(0.2)
print(f"online/join?ip=203.0.113.7&httpPort={port}", flush=True)
signal.signal(signal.SIGTERM, lambda *a: (print("bye", flush=True), sys.exit(0)))
while True:
    time.sleep(0.1)
"""


def test_parse_takes_the_link_pattern() -> None:
    assert parse(["--link-pattern", PATTERN, "--", "game"]).link_pattern == PATTERN


def test_the_link_in_the_games_output_reaches_the_status_and_every_line_the_journal(
    start: Start,
) -> None:
    port = free_port()
    run = start(["--ports", f"tcp:{port}", "--link-pattern", PATTERN, "--stop-timeout", "5"],
                [sys.executable, "-c", GAME], port=port)  # fmt: skip
    link = LINK.format(port=run.port)
    got = run.notes.wait_for(f"STATUS=listening | join {link}", timeout=10)
    assert got is not None
    assert run.notes.any("STATUS=starting")  # at once: not the last run's link
    out = run.output()
    assert "Assetto Corsa Dedicated Server v1.15\n" in out
    assert "x" * 70000 + "\n" in out  # a long line passes whole, unsearched
    assert f"[19:25:24 INF] Server invite link: {link}\n" in out  # one line, as written
    assert "Lobby registration successful\n" in out
    run.proc.terminate()
    assert run.wait() == 0
    assert "bye\n" in run.output()  # what the game prints as it stops reaches the journal too


def test_without_link_the_game_writes_to_the_journal_itself(start: Start) -> None:
    port = free_port()
    run = start(["--ports", f"tcp:{port}", "--stop-timeout", "5"], [sys.executable, "-c", GAME],
                port=port)  # fmt: skip
    run.notes.wait_for("STATUS=listening", timeout=10)
    assert not any("join" in " ".join(d) for d in run.notes.seen)
    assert MAX_PENDING < 70000  # the long line above is dropped from the search, not the journal
    run.proc.terminate()
    run.wait()


def test_a_line_written_in_pieces_goes_on_whole_and_what_is_held_at_exit_goes_too(
    capfd: pytest.CaptureFixture[str],
) -> None:
    links: list[str | None] = []
    with selectors.DefaultSelector() as selector:
        out = GameOutput(PATTERN, links.append, selector)
        write_end = os.dup(out.write_end)  # the game's end: started() closes the runner's
        out.started()

        def feed(data: bytes) -> str:
            os.write(write_end, data)
            out.drain()
            return capfd.readouterr().out

        invite = b"[19:25:24 INF] Server invite link: "
        assert feed(b"Assetto Corsa Dedicated Server v1.15") == ""  # held: no newline yet
        sys.stderr.write("warlock-runner: a line of its own\n")  # cannot split the game's
        assert feed(b"\nlong:") == "Assetto Corsa Dedicated Server v1.15\n"
        assert feed(b"y" * MAX_PENDING) == "long:" + "y" * MAX_PENDING  # too long to hold
        # the rest of the long line would be a link on a line of its own: not searched
        assert feed(invite + LINK.format(port=1).encode() + b"\n" + invite) == (
            invite.decode() + LINK.format(port=1) + "\n")  # fmt: skip
        assert feed(LINK.format(port=9600).encode()[:30]) == ""  # a link cut in two writes
        assert feed(LINK.format(port=9600).encode()[30:] + b"\nbye") == (
            invite.decode() + LINK.format(port=9600) + "\n")  # fmt: skip
        assert links == [None, LINK.format(port=9600)]
        os.close(write_end)
        out.drain(exited=True)
        assert capfd.readouterr().out == "bye"
