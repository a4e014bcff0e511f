"""Assetto Corsa's HTTP interface, on the server's HTTP_PORT (the port Content Manager and
the Kunos lobby ask).

`GET /INFO` answers one JSON object: `name`, `track` (`<track>-<layout>`), `clients`,
`maxclients`, `cars`, `session` (the index of the current session in `sessiontypes`, whose
items are 0 booking, 1 practice, 2 qualify, 3 race), `durations`, `timeleft`, ports
(`port` UDP, `tport` TCP, `cport` HTTP), `pass`, `pickup`... `GET /JSON|<steam id>` answers
`{"Cars": [...]}`, one object per entry-list slot: `Model`, `Skin`, `DriverName`,
`DriverTeam`, `DriverNation`, `IsConnected`, `IsRequestedGUID`, `IsEntryList`; Content
Manager sends `-1` when it has no Steam id, and so do we. Shapes and sources:
tests/fixtures/assetto/README.md.

HTTP is spoken by hand over a socket: the runner probes with this module and must stay
small, and http.client pulls in the email package. Requests are HTTP/1.0, so a server
never answers chunked (the Kunos server is written in Go, whose net/http closes the
connection instead); a chunked answer is decoded all the same.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, NamedTuple

from . import MalformedReply

MAX_REPLY = 1 << 20  # an entry list of a few hundred cars is a few tens of KB
SESSION_TYPES = {0: "booking", 1: "practice", 2: "qualify", 3: "race"}


class Info(NamedTuple):
    name: str
    track: str
    clients: int
    max_clients: int
    session: str  # booking, practice, qualify, race; "" when the server does not say
    cars: tuple[str, ...] = ()
    time_left: int | None = None  # seconds left in the current session
    ports: tuple[int, int, int] = (0, 0, 0)  # UDP, TCP, HTTP, as the server reports them


class Car(NamedTuple):
    model: str
    skin: str
    driver: str
    connected: bool


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedReply(f"/INFO: {what} is not a number")
    try:
        return int(value)
    except ValueError:  # the lobby's copies write numbers as strings; "x" is garbage
        raise MalformedReply(f"/INFO: {what} is not a number") from None


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise MalformedReply(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedReply(f"{what} is not a JSON object")
    return data


def session_name(index: Any, types: Any) -> str:
    """`session` is an index into `sessiontypes` (measured on real servers: a weekend of
    practice only answers session 0 with sessiontypes [1])."""
    if not isinstance(types, list) or isinstance(index, bool) or not isinstance(index, int):
        return ""
    if not 0 <= index < len(types):
        return ""
    try:
        return SESSION_TYPES.get(int(types[index]), "")
    except (TypeError, ValueError):
        return ""


def parse_info(body: bytes) -> Info:
    data = _object(body, "/INFO")
    for key in ("clients", "maxclients"):
        if key not in data:
            raise MalformedReply(f"/INFO has no {key!r}")
    cars = data.get("cars")
    time_left = data.get("timeleft")
    return Info(
        name=str(data.get("name") or ""),
        track=str(data.get("track") or ""),
        clients=_int(data["clients"], "clients"),
        max_clients=_int(data["maxclients"], "maxclients"),
        session=session_name(data.get("session"), data.get("sessiontypes")),
        cars=tuple(str(c) for c in cars) if isinstance(cars, list) else (),
        time_left=time_left if isinstance(time_left, int) and time_left >= 0 else None,
        ports=tuple(  # type: ignore[arg-type]
            v if isinstance(v, int) and not isinstance(v, bool) else 0
            for v in (data.get("port"), data.get("tport"), data.get("cport"))
        ),
    )


def parse_cars(body: bytes) -> tuple[Car, ...]:
    data = _object(body, "/JSON|")
    cars = data.get("Cars")
    if not isinstance(cars, list):
        raise MalformedReply("/JSON| has no 'Cars' list")
    return tuple(
        Car(str(c.get("Model") or ""), str(c.get("Skin") or ""),
            str(c.get("DriverName") or ""), c.get("IsConnected") is True)
        for c in cars if isinstance(c, dict)
    )  # fmt: skip


def drivers(cars: tuple[Car, ...]) -> tuple[str, ...]:
    """The names of the drivers connected now."""
    return tuple(c.driver for c in cars if c.connected and c.driver)


# The wire.


def split_response(raw: bytes) -> bytes:
    """The body of an HTTP response; MalformedReply unless its status is 200."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise MalformedReply("HTTP response without a header end")
    lines = head.split(b"\r\n")
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise MalformedReply("not an HTTP response")
    if status[1] != b"200":
        raise MalformedReply(f"HTTP {status[1].decode('ascii', 'replace')}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return _dechunk(body)
    length = headers.get(b"content-length")
    if length is not None and length.isdigit():
        if len(body) < int(length):
            raise MalformedReply("HTTP body cut short")
        return body[: int(length)]
    return body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, body = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise MalformedReply("bad chunk size") from None
        if not sep or len(body) < size:
            raise MalformedReply("chunked body cut short")
        if size == 0:
            return bytes(out)
        out += body[:size]
        body = body[size + 2 :]


def get(host: str, port: int, path: str, timeout: float = 0.5) -> bytes:
    """GET one path over HTTP/1.0; the body. Raises OSError (no answer in `timeout`, all
    told) or MalformedReply."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: warlockd\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.encode("ascii"))
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete answer to {path} in {timeout:g}s")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_REPLY:
                raise MalformedReply(f"the answer to {path} is larger than {MAX_REPLY} bytes")
            chunks.append(chunk)
    return split_response(b"".join(chunks))


def status(host: str, port: int, timeout: float = 0.5) -> tuple[Info, tuple[str, ...]]:
    """/INFO, and the connected drivers' names when someone is connected (the car list is
    the longer answer: an empty server is not asked for it)."""
    started = time.monotonic()
    info = parse_info(get(host, port, "/INFO", timeout))
    if info.clients <= 0:
        return info, ()
    left = max(0.05, timeout - (time.monotonic() - started))
    try:
        names = drivers(parse_cars(get(host, port, "/JSON|-1", left)))
    except (OSError, MalformedReply):
        names = ()  # the count stands without the names
    return info, names
