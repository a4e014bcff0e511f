"""Live updates: the event bus (replay by Last-Event-ID, a reset when some was missed), and
streams over a real uvicorn on 127.0.0.1 (a state change within a second, reconnecting,
a revoked key ending its stream, the cap on streams, slow clients cut off)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message

from tests.harness.container import free_port
from tests.unit.support import ID_A, World
from tests.unit.web_support import BASE, Api, make_api
from warlockd.errors import WarlockError
from warlockd.web import journal
from warlockd.web.errors import Unavailable
from warlockd.web.keys import KeyStore
from warlockd.web.principal import Scope
from warlockd.web.settings import ApiSettings
from warlockd.web.sse import Bus, EventStream, Slots


def test_a_client_that_comes_back_with_an_id_the_ring_holds_gets_what_came_after() -> None:
    bus = Bus(capacity=8, start=1000)
    ids = [bus.publish("state", ID_A, {"n": n}) for n in range(5)]
    entries, cursor, missed = bus.after(ids[1])
    assert [json.loads(e.data)["n"] for e in entries] == [2, 3, 4]
    assert cursor == ids[-1] and not missed
    assert bus.after(ids[-1]) == ([], ids[-1], False)
    assert bus.after(None) == ([], ids[-1], False)  # a new client starts from now


def test_an_id_the_ring_no_longer_holds_or_never_gave_means_a_reset() -> None:
    bus = Bus(capacity=4, start=1000)
    first = bus.publish("state", ID_A, {})
    for _ in range(6):
        bus.publish("state", ID_A, {})
    assert bus.after(first)[2]  # pushed out of the ring
    assert bus.after(5)[2]  # from a daemon that ran before (ids grow with the start time)
    assert bus.after(bus.last_id + 10)[2]  # from nowhere


def test_publishing_from_another_thread_wakes_a_waiting_stream() -> None:
    bus = Bus()

    async def waiting() -> float:
        bus.attach(asyncio.get_running_loop())
        began = time.monotonic()
        threading.Timer(0.05, lambda: bus.publish("state", None, {})).start()
        await bus.wait(5.0)
        return time.monotonic() - began

    assert asyncio.run(waiting()) < 1.0


def test_streams_are_capped_in_all_and_per_caller() -> None:
    slots = Slots(limit=3, per_client=2)
    a1, _ = slots.take("a"), slots.take("a")
    with pytest.raises(Unavailable, match="for this caller"):
        slots.take("a")
    slots.take("b")
    with pytest.raises(Unavailable, match="in all"):
        slots.take("c")
    a1()
    a1()  # giving back twice frees one slot only
    slots.take("c")
    assert slots.used == 3


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def live(world: World, tmp_path: Path) -> Iterator[Api]:
    settings = ApiSettings(
        port=free_port(), max_streams=3, max_streams_per_client=2, request_timeout=1.0
    )
    api = make_api(world, tmp_path, settings)
    api.server.start()
    yield api
    api.server.stop()


class Events:
    """The events of one open stream, read as a client reads them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for raw in self.lines:
            line = raw.rstrip("\r\n")  # httpx 0.23 keeps the line ends
            if not line:
                if "event" in event:
                    return event
                continue
            field, _, value = line.partition(": ")
            if field in ("id", "event"):
                event[field] = value
            elif field == "data":
                event["data"] = json.loads(value)
        raise EOFError("the stream ended")

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            event = self.next()
            if event["event"] == kind:
                return event


def stream(api: Api, key: str = "admin", **headers: str) -> Any:
    return httpx.stream(
        "GET", f"{api.server.url}{BASE}/events/stream",
        headers={"Authorization": f"Bearer {api.keys[key]}", **headers},
        params={"kinds": "state,event,operation,removed"}, timeout=5.0,
    )  # fmt: skip


def test_a_state_change_reaches_a_stream_within_a_second(live: Api) -> None:
    with stream(live) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = Events(r)
        live.call("POST", f"{BASE}/instances/{ID_A}/start")
        began = time.monotonic()
        live.pump()  # what the daemon's loop does when systemd's signal arrives
        got = events.until("state")
        assert time.monotonic() - began < 1.0
        assert got["data"]["id"] == ID_A and got["data"]["status"] == "running"


def test_a_client_that_reconnects_with_its_last_event_id_misses_nothing(live: Api) -> None:
    with stream(live) as r:
        events = Events(r)
        live.call("POST", f"{BASE}/instances/{ID_A}/start")
        live.pump()
        seen = events.until("state")["id"]
    for verb in ("stop", "start", "stop"):  # while the client is away
        live.call("POST", f"{BASE}/instances/{ID_A}/{verb}")
        live.pump()
    with stream(live, **{"Last-Event-ID": seen}) as r:
        events = Events(r)
        states = [events.until("state")["data"]["status"] for _ in range(3)]
        assert states == ["stopped", "running", "stopped"]
    with stream(live, **{"Last-Event-ID": "12"}) as r:  # from before a restart
        assert Events(r).next()["event"] == "reset"


def test_a_revoked_key_ends_its_stream(live: Api) -> None:
    store = KeyStore(live.files.api_keys)  # as `warlock api-key revoke` does, elsewhere
    _, text = store.create("watcher", Scope.READ)
    live.keys["watcher"] = text
    with stream(live, "watcher") as r:
        events = Events(r)
        store.revoke("watcher")
        ended = events.until("end")
        assert "revoked" in ended["data"]["error"]
        with pytest.raises(EOFError):
            events.next()


def test_streams_past_the_cap_are_refused_with_503(live: Api) -> None:
    with stream(live, "read") as a, stream(live, "read") as b:
        assert a.status_code == b.status_code == 200
        with stream(live, "read") as c:
            assert c.status_code == 503 and c.headers["retry-after"]
            c.read()
            assert "for this caller" in c.json()["error"]
        with stream(live, "operate") as d:
            assert d.status_code == 200
            with stream(live, "admin") as e:
                assert e.status_code == 503
    deadline = time.monotonic() + 5
    while live.server._ctx.slots.used and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the clients left
    assert live.server._ctx.slots.used == 0
    assert live.call("GET", f"{BASE}/instances").status_code == 200  # the daemon goes on


def test_answers_on_a_kept_alive_connection_wait_for_no_delayed_ack(live: Api) -> None:
    times = []
    with httpx.Client(headers=live.headers("read")) as client:
        for _ in range(10):
            began = time.monotonic()
            assert client.get(f"{live.server.url}{BASE}/session").status_code == 200
            times.append(time.monotonic() - began)
    assert sorted(times)[5] < 0.02, times  # Nagle's algorithm on: 40 ms each (server.py)


def test_a_request_whose_headers_trickle_in_is_cut_off(live: Api) -> None:
    port = live.server.settings.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/v1/instances HTTP/1.1\r\n")
        began = time.monotonic()
        try:
            for _ in range(20):
                time.sleep(0.2)
                s.sendall(b"X-Slow: 1\r\n")  # a byte now and then resets nothing
        except OSError:
            pass
        assert s.recv(100) == b"" and time.monotonic() - began < 3.0


def test_a_body_that_does_not_arrive_is_refused_with_408(live: Api) -> None:
    port = live.server.settings.port
    head = (
        f"POST {BASE}/instances HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f'Authorization: Bearer {live.keys["admin"]}\r\nContent-Length: 100\r\n\r\n{{"app"'
    )
    before = live.state()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode())
        chunks = []
        while chunk := s.recv(4096):  # the answer says Connection: close
            chunks.append(chunk)
        answer = b"".join(chunks).decode()
    assert answer.startswith("HTTP/1.1 408") and '"error"' in answer
    assert live.state() == before


def test_stopping_the_server_ends_its_streams(live: Api) -> None:
    with stream(live) as r:
        events = Events(r)
        began = time.monotonic()
        live.server.stop()
        assert events.until("end")["data"]["error"] == "the server is stopping"
        assert time.monotonic() - began < 6.0


def test_a_stream_whose_loop_swallows_a_cancellation_still_ends_and_frees_its_slot() -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancellation (when what it awaits has
    just completed): a frames loop then goes on. The stream must end anyway when the client
    leaves, and give its slot back (once): else slots leak until the cap refuses everyone."""
    released: list[int] = []

    async def frames() -> AsyncIterator[str]:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # what the race in wait_for amounts to, on every cancellation
            yield "data: x\n\n"

    async def scenario() -> list[Message]:
        sent: list[Message] = []
        left = asyncio.Event()

        async def receive() -> Message:
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        stream = EventStream(frames(), lambda: released.append(1))
        call = asyncio.ensure_future(stream({"type": "http"}, receive, send))
        await asyncio.sleep(0.05)
        left.set()
        await asyncio.wait_for(call, 5)
        return sent

    sent = asyncio.run(scenario())
    assert len(released) >= 1  # give_back itself is idempotent (Slots)
    assert sent[0]["type"] == "http.response.start" and len(sent) > 2
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_the_journal_stream_ends_when_its_caller_may_go_on_no_more() -> None:
    """The log stream asks, as the bus stream does, whether its caller may still read; a
    revoked key gets an `end` frame and the journalctl process behind it goes."""

    async def scenario() -> tuple[list[str], int | None]:
        proc = await asyncio.create_subprocess_exec(
            "sleep", "30", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
        )  # stands in for `journalctl -f`: no line comes

        async def check() -> None:
            raise WarlockError("the API key was revoked", hint="make a new one")

        frames = [f async for f in journal.follow(proc, check, recheck=0.05)]
        return frames, proc.returncode

    frames, code = asyncio.run(scenario())
    assert frames[0].startswith("retry:") and len(frames) == 2
    assert "event: end" in frames[1] and '"the API key was revoked"' in frames[1]
    assert code is not None  # killed and reaped
