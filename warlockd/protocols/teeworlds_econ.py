"""Teeworlds' external console ("econ"): console lines over TCP (engine/shared/econ.cpp,
network_console*.cpp; 0.6 and 0.7 alike).

The server listens on `ec_port` (at `ec_bindaddr`) only when `ec_password` is set. A client
gets `Enter password:`, sends the password and a line end, and gets `Authentication
successful. External console access granted.` or `Wrong password N/3.` (the connection
stays open; the third wrong one drops it, and bans the address when `ec_bantime` is set, so
we try once per connection). Then every line the client sends is run as a console command,
and every line the server's console prints at `ec_output_level` or below comes back to
every authenticated client: the command's output, but also whatever else the server logs
meanwhile. The server logs each command as `cid=N cmd='<line>'` (level 1, the default)
before it runs it, so what follows that echo is the command's output. Nothing marks the
end of the output, so we read until the server has been quiet for a moment.

Lines from the server end in the line ending it detected from the client's first one plus
padding NULs (`\\n\\0\\0` for `\\n`); a server that refuses the connection ("no free slot
available", a ban) writes one line without a line end and closes. Lines to the server must
fit its 1400-byte receive buffer, or it waits for their end forever.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType

from . import RconError

PROMPT = "Enter password:"
GRANTED = "Authentication successful"
REFUSED = "Wrong password"
MAX_LINE = 1000  # bytes of one command: the server's buffer is 1400, its own lines 1021


def split_lines(buffer: bytes) -> tuple[list[str], bytes]:
    """Whole lines in `buffer` (line ends and padding NULs dropped) and the partial rest."""
    *whole, rest = buffer.replace(b"\r", b"\n").split(b"\n")
    lines = [raw.strip(b"\0").decode("utf-8", "replace") for raw in whole]
    return [line for line in lines if line], rest.lstrip(b"\0")


def encode_line(text: str) -> bytes:
    """One line for the server; ValueError when it cannot be one."""
    data = text.encode()
    if not text or "\n" in text or "\r" in text or "\0" in text:
        raise ValueError("an econ line is one non-empty line of text")
    if len(data) > MAX_LINE:
        raise ValueError(f"an econ line is at most {MAX_LINE} bytes")
    return data + b"\n"


def output_of(lines: list[str], command: str) -> list[str]:
    """The lines after the server's echo of `command` (all of them when there is none:
    an admin may have set ec_output_level 0, which hides the echo)."""
    echo = f"cmd='{command[:200]}"  # the server logs at most 256 bytes of it
    for i in range(len(lines) - 1, -1, -1):
        if echo in lines[i]:
            return lines[i + 1 :]
    return lines


class Econ:
    """One authenticated econ connection; use it as a context manager.

    Every failure is an RconError (a ConnectionError): nothing listening, a refused
    password, no answer within `timeout`, the server hanging up. The connection is closed
    after any failure."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 3.0) -> None:
        if not password or len(password) > 31:  # ec_password holds 31 bytes
            raise ValueError("an econ password is 1 to 31 characters")
        self.host, self.port = host, port
        self.password = password
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._lines: list[str] = []

    @property
    def where(self) -> str:
        return f"econ at {self.host}:{self.port}"

    def __enter__(self) -> Econ:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        if self._sock is not None:
            return
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise RconError(f"cannot reach {self.where}: {e.strerror or e}") from e
        greeting = self._line("password prompt")
        if greeting != PROMPT:
            self.close()  # a ban or "no free slot available": the server said why
            raise RconError(f"{self.where} did not ask for a password: {greeting!r}")
        self._send(encode_line(self.password))
        verdict = self._line("answer to the password")
        if verdict.startswith(REFUSED):
            self.close()
            raise RconError(f"{self.where} refused the password")
        if not verdict.startswith(GRANTED):
            self.close()
            raise RconError(f"{self.where}: unexpected answer to the password: {verdict!r}")

    def command(self, text: str, quiet: float = 0.3) -> list[str]:
        """Run a console command; its output lines (possibly none). Waits `timeout` for
        the first line, then until the server has been silent for `quiet` seconds (or
        `timeout` has passed again: a busy server's log never falls silent)."""
        line = encode_line(text)
        self.connect()
        self._lines.clear()  # our own "authed" line and older log lines are not ours
        self._send(line)
        got: list[str] = []
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            more = self._read(min(quiet, left) if got else left)
            if more is None:
                break
            got += more
        return output_of(got, text)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""
        self._lines.clear()

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError as e:
            self.close()
            raise RconError(f"{self.where}: {e.strerror or e}") from e

    def _line(self, what: str) -> str:
        """The next line, within `timeout`."""
        deadline = time.monotonic() + self.timeout
        while not self._lines:
            left = deadline - time.monotonic()
            if left <= 0 or self._read(left) is None:
                self.close()
                raise RconError(f"{self.where}: no {what} within {self.timeout:g}s")
        return self._lines.pop(0)

    def _read(self, wait: float) -> list[str] | None:
        """Lines that arrive within `wait` seconds (also kept for _line); None when none
        did. A hang-up is an RconError that quotes what the server said last."""
        assert self._sock is not None
        self._sock.settimeout(wait)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return None
        except OSError as e:
            self.close()
            raise RconError(f"{self.where}: {e.strerror or e}") from e
        if not chunk:
            said = self._buffer.strip(b"\0\r\n").decode("utf-8", "replace")
            self.close()
            raise RconError(f"{self.where} hung up" + (f": {said!r}" if said else ""))
        lines, self._buffer = split_lines(self._buffer + chunk)
        if len(self._buffer) > 65536:
            self.close()
            raise RconError(f"{self.where}: 64 KiB without a line end: not an econ")
        self._lines += lines
        return lines


def rcon(host: str, port: int, password: str, command: str, timeout: float = 3.0) -> str:
    """Connect, authenticate, run one command; its output, one line each."""
    with Econ(host, port, password, timeout) as econ:
        return "".join(line + "\n" for line in econ.command(command))
