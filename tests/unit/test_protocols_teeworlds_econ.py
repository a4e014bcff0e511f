"""Teeworlds' econ: bytes recorded from Debian's teeworlds-server 0.7.5, and a fake econ on a
real TCP socket that follows engine/shared/econ.cpp."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.unit.support import ID_A, INSTALLERS
from warlockd import console
from warlockd.apps import App, load_manifest
from warlockd.errors import WarlockError
from warlockd.model import Instance
from warlockd.protocols import RconError
from warlockd.protocols.teeworlds_econ import (
    MAX_LINE,
    Econ,
    encode_line,
    output_of,
    rcon,
    split_lines,
)

PASSWORD = "s3cret"
# what the real server sent to a client whose lines end in \n (`ec_port 18304`,
# `ec_password secret123`), one recv each
RECORDED = {
    "prompt": b"Enter password:\n\x00\x00",
    "granted": b"Authentication successful. External console access granted.\n\x00\x00"
    b"[09:14:36][econ]: cid=0 authed\n\x00\x00",
    "say": b"[09:14:37][server]: cid=0 cmd='say hello from warlock'\n\x00\x00"
    b"[09:14:37][chat]: *** hello from warlock\n\x00\x00",
    "refused": b"Wrong password 1/3.\n\x00\x00",
}


def test_recorded_lines_split_without_their_line_ends_and_padding() -> None:
    assert split_lines(RECORDED["prompt"]) == (["Enter password:"], b"")
    assert split_lines(RECORDED["granted"]) == (
        ["Authentication successful. External console access granted.",
         "[09:14:36][econ]: cid=0 authed"],
        b"",
    )  # fmt: skip


def test_a_line_split_across_reads_waits_for_its_end_and_crlf_is_one_end() -> None:
    lines, rest = split_lines(RECORDED["say"][:30])
    assert (lines, rest) == ([], RECORDED["say"][:30])
    assert split_lines(b"one\r\n\x00two\r\n\x00thr") == (["one", "two"], b"thr")


def test_the_output_is_what_follows_the_servers_echo_of_the_command() -> None:
    lines, _ = split_lines(RECORDED["granted"] + RECORDED["say"])
    assert output_of(lines, "say hello from warlock") == [
        "[09:14:37][chat]: *** hello from warlock"
    ]
    # ec_output_level 0 hides the echo: then every line is the output
    assert output_of(["a", "b"], "status") == ["a", "b"]


def test_a_command_must_be_one_line_that_fits_the_servers_buffer() -> None:
    assert encode_line("say hi") == b"say hi\n"
    for bad in ("", "say a\nshutdown", "a\rb", "a\0b", "x" * (MAX_LINE + 1)):
        with pytest.raises(ValueError):
            encode_line(bad)
    with pytest.raises(ValueError):
        Econ("127.0.0.1", 1, "x" * 32)  # ec_password holds 31 bytes


Behaviour = Callable[[socket.socket], None]


def econ_server(output: Callable[[str], list[str]]) -> Behaviour:
    """econ.cpp's exchange: prompt, password (three tries), then each line echoed and run."""

    def serve(conn: socket.socket) -> None:
        conn.sendall(RECORDED["prompt"])
        authed, tries, buffer = False, 0, b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                line = raw.decode()
                if not authed and line == PASSWORD:
                    authed = True
                    conn.sendall(RECORDED["granted"])
                elif not authed:
                    tries += 1
                    conn.sendall(f"Wrong password {tries}/3.\n\0\0".encode())
                    if tries == 3:
                        return
                else:
                    sent = [f"[10:00:00][server]: cid=0 cmd='{line}'", *output(line)]
                    for out in sent:
                        conn.sendall(out.encode() + b"\n\0\0")
                        time.sleep(0.01)  # as the server prints, line by line

    return serve


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Behaviour], int]]:
    """A listening socket on 127.0.0.1 that serves each connection with `behaviour`; its port."""
    stop = threading.Event()
    socks: list[socket.socket] = []

    def start(behaviour: Behaviour) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.05)
        socks.append(listener)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:  # closed at the end of the test
                    return
                with conn:
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        behaviour(conn)

        threading.Thread(target=accept, daemon=True).start()
        port: int = listener.getsockname()[1]
        return port

    yield start
    stop.set()
    for s in socks:
        s.close()


def test_a_command_returns_its_output_lines_without_the_echo_or_the_auth_line(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(econ_server(lambda line: [f"[10:00:00][chat]: *** {line[4:]}"]))
    assert rcon("127.0.0.1", port, PASSWORD, "say hello", timeout=2) == (
        "[10:00:00][chat]: *** hello\n"
    )


def test_one_connection_runs_several_commands_each_with_its_own_output(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(econ_server(lambda line: [f"ran {line}", "done"]))
    with Econ("127.0.0.1", port, PASSWORD, timeout=2) as econ:
        assert econ.command("status", quiet=0.2) == ["ran status", "done"]
        assert econ.command("bans", quiet=0.2) == ["ran bans", "done"]


def test_a_command_without_output_returns_nothing_once_the_server_is_quiet(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(econ_server(lambda line: []))
    started = time.monotonic()
    assert rcon("127.0.0.1", port, PASSWORD, "status", timeout=2) == ""
    assert time.monotonic() - started < 1.5  # the quiet period after the echo, not the timeout


def test_a_wrong_password_is_a_clear_rcon_error_after_one_try(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    tries: list[str] = []

    def counting(conn: socket.socket) -> None:
        conn.sendall(RECORDED["prompt"])
        tries.append(conn.recv(4096).decode())
        conn.sendall(RECORDED["refused"])
        conn.recv(4096)  # until the client hangs up

    port = tcp_server(counting)
    with pytest.raises(RconError, match=rf"econ at 127.0.0.1:{port} refused the password"):
        rcon("127.0.0.1", port, "wrong", "status", timeout=2)
    assert tries == ["wrong\n"]  # one try: three would get 127.0.0.1 banned where ec_bantime is set


def test_a_server_that_never_prompts_times_out_with_an_rcon_error(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(lambda conn: time.sleep(1.0))
    started = time.monotonic()
    with pytest.raises(RconError, match=r"no password prompt within 0.3s"):
        rcon("127.0.0.1", port, PASSWORD, "status", timeout=0.3)
    assert time.monotonic() - started < 0.9


def test_a_server_that_refuses_the_connection_is_quoted(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    # network_console.cpp when its four slots are taken: no line end, then close
    port = tcp_server(lambda conn: conn.sendall(b"no free slot available"))
    with pytest.raises(RconError, match="hung up: 'no free slot available'"):
        rcon("127.0.0.1", port, PASSWORD, "status", timeout=2)


def test_nothing_listening_is_an_rcon_error_naming_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connecting is refused
        with pytest.raises(RconError, match=rf"cannot reach econ at 127.0.0.1:{port}"):
            rcon("127.0.0.1", port, PASSWORD, "status", timeout=1)


# --- console.send for Teeworlds: its manifest's [rcon] ------------------------------------


def _teeworlds(ports: dict[str, int]) -> tuple[Instance, App]:
    app = load_manifest(INSTALLERS / "teeworlds.toml")
    inst = Instance(ID_A, app.guid, "Tee", "/srv/tee", ports, "2026-01-01T00:00:00+00:00",
                    secrets={"econ_password": PASSWORD})  # fmt: skip
    return inst, app


def test_console_send_says_over_the_econ_with_the_instance_s_password(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(econ_server(lambda line: [f"[10:00:00][chat]: *** {line[4:]}"]))
    inst, app = _teeworlds({"game": 8303, "econ": port})
    assert console.send(inst, app, "say hello") == "[10:00:00][chat]: *** hello\n"


def test_console_send_to_a_stopped_server_or_with_a_wrong_password_is_one_line(
    tcp_server: Callable[[Behaviour], int],
) -> None:
    port = tcp_server(econ_server(lambda line: []))
    inst, app = _teeworlds({"game": 8303, "econ": port})
    assert console.send(inst, app, "status") is None  # no output: nothing to show
    wrong = inst._replace(secrets={"econ_password": "not-it"})
    with pytest.raises(WarlockError, match=r"refused the password \(hint: is it running\?\)$"):
        console.send(wrong, app, "status")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        stopped = inst._replace(ports={"game": 8303, "econ": s.getsockname()[1]})
        with pytest.raises(WarlockError, match="cannot reach econ"):
            console.send(stopped, app, "say hi")


def test_an_instance_made_before_its_game_had_an_econ_port_is_told_what_to_do() -> None:
    inst, app = _teeworlds({"game": 8303})
    with pytest.raises(WarlockError, match="has no econ port") as e:
        console.send(inst, app, "say hi")
    assert e.value.hint is not None and "clone" in e.value.hint
