"""What protects the server from bad or hostile clients before any route runs.

- Limits (ASGI middleware): a body over `max_body` bytes is refused with 413, by its
  Content-Length before a byte is read and by counting when it comes chunked; a body that
  does not arrive within `timeout` seconds is refused with 408 (waiting for the client's
  disconnect afterwards, as a Server-Sent Events stream does, is not timed). Every answer
  gets headers that keep browsers from guessing types, framing the API or caching it.
- GuardedH11 (uvicorn's HTTP protocol, and one thing more): a connection has `timeout`
  seconds to send a request's headers, each request anew; one that trickles them in a byte
  at a time (slowloris) is closed. uvicorn 0.17 times only idle keep-alive connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import error_response
from .errors import TooLarge, TooSlow

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class Limits:
    def __init__(self, app: ASGIApp, max_body: int, timeout: float, tls: bool = False) -> None:
        self.app, self.max_body, self.timeout = app, max_body, timeout
        self.headers = _HEADERS + ([_HSTS] if tls else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received, finished, started, refused = 0, False, False, False

        async def refuse(exc: TooLarge | TooSlow) -> Message:
            """Answer now; the app, which is reading the body, is told the client left."""
            nonlocal refused
            if not started:
                response = error_response(exc)
                response.headers["connection"] = "close"  # not another byte of that body
                await response(scope, receive, sending)
            refused = True
            return {"type": "http.disconnect"}

        async def receiving() -> Message:
            nonlocal received, finished
            if finished:  # the body is in: what is left is waiting for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                return await refuse(
                    TooSlow(f"the request body did not arrive within {self.timeout:g} s")
                )
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                finished = not message.get("more_body", False)
                if received > self.max_body:
                    return await refuse(TooLarge(f"the request body is over {self.max_body} bytes"))
            else:
                finished = True
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's answer to a request refused already
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await refuse(
                TooLarge(
                    f"the request body is over {self.max_body} bytes",
                    hint="send less; max_body_kb in the [api] settings is the limit",
                )
            )
            return
        await self.app(scope, receiving, sending)


def guarded_protocol(timeout: float) -> type[Any]:
    """uvicorn's h11 protocol class with a deadline for each request's headers."""
    from uvicorn.protocols.http.h11_impl import H11Protocol  # type: ignore[import-untyped]

    class GuardedH11(H11Protocol):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets its own deadline

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's headers are in
                self._disarm()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11
