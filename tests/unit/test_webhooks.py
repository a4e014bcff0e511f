from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd.config import Webhook
from warlockd.daemon.webhooks import Dispatcher, discord_payload, json_payload
from warlockd.errors import InvalidInput
from warlockd.store import Event

NOW = 1_700_000_000.0
CRASH = Event(NOW, "crashed", ID_A, "exited with status 1", {"code": 1}, 7)


@dataclass
class Endpoint:
    """A real HTTP server on 127.0.0.1 that answers with `statuses` in turn (the last repeats)."""

    statuses: list[int] = field(default_factory=lambda: [204])
    delay: float = 0.0
    received: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def handle(self, path: str, body: bytes) -> int:
        time.sleep(self.delay)
        self.received.append((time.monotonic(), path, json.loads(body)))
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def _serve(ep: Endpoint) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = ep.handle(self.path, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    ep.url = f"http://127.0.0.1:{server.server_address[1]}/hook?x=1"
    return server


@pytest.fixture
def endpoints() -> Iterator[Callable[..., Endpoint]]:
    servers: list[ThreadingHTTPServer] = []

    def make(**kw: Any) -> Endpoint:
        ep = Endpoint(**kw)
        servers.append(_serve(ep))
        return ep

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


@dataclass
class Failures:
    seen: list[tuple[Webhook, Event, str]] = field(default_factory=list)

    def __call__(self, hook: Webhook, ev: Event, why: str) -> None:
        self.seen.append((hook, ev, why))


def _until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def _dispatcher(hooks: list[Webhook], failures: Failures, **kw: Any) -> Dispatcher:
    kw = {"timeout": 1.0, "retries": 2, "backoff": 0.02, **kw}
    return Dispatcher(hooks, on_failure=failures, **kw)


def test_json_and_discord_bodies_are_delivered(endpoints: Callable[..., Endpoint]) -> None:
    plain, discord = endpoints(), endpoints()
    failures = Failures()
    d = _dispatcher([Webhook(plain.url), Webhook(discord.url, "discord")], failures)
    d.start()
    d.submit(CRASH, "Friday night")
    assert _until(lambda: bool(plain.received and discord.received))
    d.stop(1)
    assert plain.received[0][1] == "/hook?x=1"
    assert plain.received[0][2] == json_payload(CRASH, "Friday night")
    assert discord.received[0][2] == discord_payload(CRASH, "Friday night")
    assert failures.seen == []


def test_discord_payload_is_an_embed_within_discords_limits() -> None:
    ev = Event(NOW, "crashed", ID_A, "m" * 5000, {f"k{i}": "v" * 2000 for i in range(40)})
    body = discord_payload(ev, "n" * 300)
    assert body["username"] == "warlockd" and body["allowed_mentions"] == {"parse": []}
    (embed,) = body["embeds"]
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert 0 < len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024 for f in embed["fields"])
    total = len(embed["title"]) + len(embed["description"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert embed["color"] == 0xE74C3C and embed["timestamp"] == "2023-11-14T22:13:20+00:00"


def test_a_500_is_retried_until_delivered(endpoints: Callable[..., Endpoint]) -> None:
    ep = endpoints(statuses=[500, 503, 204])
    failures = Failures()
    d = _dispatcher([Webhook(ep.url)], failures)
    d.start()
    d.submit(CRASH)
    assert _until(lambda: len(ep.received) == 3)
    d.stop(1)
    assert failures.seen == []


def test_an_endpoint_that_always_fails_is_reported_once_after_the_retries(
    endpoints: Callable[..., Endpoint],
) -> None:
    ep = endpoints(statuses=[500])
    failures = Failures()
    hook = Webhook(ep.url)
    d = _dispatcher([hook], failures, retries=3)
    d.start()
    d.submit(CRASH)
    assert _until(lambda: bool(failures.seen))
    time.sleep(0.2)  # nothing more comes
    d.stop(1)
    assert len(ep.received) == 4
    [(h, ev, why)] = failures.seen
    assert (h, ev) == (hook, CRASH) and "HTTP 500 after 4 attempt(s)" in why
    assert "/hook" not in why  # the URL path is the secret of a Discord webhook


def test_a_client_error_is_not_retried(endpoints: Callable[..., Endpoint]) -> None:
    ep = endpoints(statuses=[404])
    failures = Failures()
    d = _dispatcher([Webhook(ep.url)], failures)
    d.start()
    d.submit(CRASH)
    assert _until(lambda: bool(failures.seen))
    d.stop(1)
    assert len(ep.received) == 1 and "HTTP 404" in failures.seen[0][2]


def test_a_refused_connection_is_reported(endpoints: Callable[..., Endpoint]) -> None:
    failures = Failures()
    d = _dispatcher([Webhook("http://127.0.0.1:9/")], failures, retries=1)
    d.start()
    d.submit(CRASH)
    assert _until(lambda: bool(failures.seen))
    d.stop(1)
    assert "ConnectionRefusedError" in failures.seen[0][2]


def test_a_hanging_endpoint_does_not_hold_up_a_healthy_one(
    endpoints: Callable[..., Endpoint],
) -> None:
    hanging, healthy = endpoints(delay=3.0), endpoints()
    failures = Failures()
    timeout = 0.5
    d = _dispatcher([Webhook(hanging.url), Webhook(healthy.url)], failures, timeout=timeout)
    d.start()
    sent = time.monotonic()
    for i in range(3):
        d.submit(Event(NOW + i, "started", ID_A, f"#{i}"))
    assert _until(lambda: len(healthy.received) == 3)
    # The hanging hook goes first and costs one timeout; its retries wait their backoff
    # behind the healthy hook's queue. Generous margin: this is a bound, not a benchmark.
    assert healthy.received[-1][0] - sent < timeout + 1.0
    d.stop(0.1)


def test_submit_never_blocks_and_drops_the_oldest_when_full() -> None:
    failures = Failures()
    d = _dispatcher([Webhook("http://127.0.0.1:9/")], failures, max_queue=3)
    started = time.monotonic()
    for i in range(10):  # not started: nothing drains the queue
        d.submit(Event(NOW + i, "started", ID_A, f"#{i}"))
    assert time.monotonic() - started < 0.5
    assert d.pending() == 3
    assert [ev.message for _, ev, _ in failures.seen] == [f"#{i}" for i in range(7)]
    assert all("queue full" in why for _, _, why in failures.seen)
    d.stop(0)  # what is left is reported, not silently lost
    assert [ev.message for _, ev, _ in failures.seen[7:]] == ["#7", "#8", "#9"]


def test_hooks_take_only_their_instances_and_event_kinds() -> None:
    hook = Webhook(
        "https://example.org/", instances=frozenset({ID_A}), events=frozenset({"crashed"})
    )
    assert hook.wants(CRASH)
    assert not hook.wants(Event(NOW, "crashed", ID_B, ""))
    assert not hook.wants(Event(NOW, "started", ID_A, ""))
    assert not hook.wants(Event(NOW, "crashed", None, ""))
    assert Webhook("https://example.org/").wants(Event(NOW, "daemon", None, ""))
    d = _dispatcher([hook, Webhook("https://example.org/all")], Failures())
    d.submit(CRASH)
    d.submit(Event(NOW, "started", ID_A, ""))
    assert d.pending() == 3


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/",
        "https://",
        "example.org",
        "http://a/\n",
        "http://a:99999/",
    ],
)
def test_only_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(InvalidInput):
        Webhook(url)


def test_a_webhook_shows_no_secret_in_logs() -> None:
    hook = Webhook("https://user:pw@discord.com:8443/api/webhooks/1/token", "discord")
    assert str(hook) == "discord webhook https://discord.com:8443/…"
    assert "token" not in repr(hook) and "pw" not in repr([hook])


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Webhook("https://example.org/", kind="slack")
