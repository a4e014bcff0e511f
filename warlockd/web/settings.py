"""The `[api]` table of warlockd.toml: where the HTTP API listens, its TLS, and its limits.

config.py hands the table to check_table(), which reports every mistake through the same
checker as the rest of the file (file, key, what was expected) and returns the settings.
Whether a listen address needs TLS is decided when the server starts (tls.check_listen),
where a missing certificate file can be named too. Importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

DEFAULT_PORT = 8077


class Checker(Protocol):
    def bad(self, key: str, expected: str) -> None: ...


@dataclass(frozen=True)
class ApiSettings:
    enabled: bool = True
    listen: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_self_signed: bool = False  # make a certificate in /var/lib/warlock/tls
    origins: tuple[str, ...] = ()  # a reverse proxy's address, for sessions' CSRF checks
    max_streams: int = 100  # Server-Sent Events connections in all; then 503
    max_streams_per_client: int = 16  # per API key or user
    max_body_kb: int = 1024  # a request body past it is refused (413)
    request_timeout: float = 30.0  # to send a request's headers, or its body


# key: (type, what is expected, check)
_VALUES: dict[str, tuple[type, str, Any]] = {
    "enabled": (bool, "true or false", lambda v: True),
    "tls_self_signed": (bool, "true or false", lambda v: True),
    "port": (int, "a port 1..65535", lambda v: 1 <= v <= 65535),
    "max_streams": (int, "1..10000", lambda v: 1 <= v <= 10_000),
    "max_streams_per_client": (int, "1..10000", lambda v: 1 <= v <= 10_000),
    "max_body_kb": (int, "kilobytes 1..1048576", lambda v: 1 <= v <= 1 << 20),
    "request_timeout": (float, "seconds 1..3600", lambda v: 1 <= v <= 3600),
}
KEYS = ("listen", "tls_cert", "tls_key", "origins", *_VALUES)


def _value(c: Checker, key: str, value: Any) -> Any:
    kind, expected, ok = _VALUES[key]
    allowed: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, allowed):
        c.bad(f"api.{key}", f"{expected}, got {value!r}")
        return None
    if not ok(value):
        c.bad(f"api.{key}", f"{expected}, got {value!r}")
        return None
    return kind(value)


def _origin(text: Any) -> bool:
    if not isinstance(text, str) or not text.isprintable():
        return False
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")


def check_table(c: Checker, raw: Any) -> ApiSettings:
    """The settings of an `[api]` table; every mistake goes to `c`, the defaults stand in."""
    if not isinstance(raw, dict):
        c.bad("api", "an [api] table")
        return ApiSettings()
    for extra in sorted(set(raw) - set(KEYS)):
        c.bad(f"api.{extra}", f"one of the keys {', '.join(KEYS)} (unknown key)")
    values: dict[str, Any] = {}
    for key in _VALUES:
        if key in raw and (value := _value(c, key, raw[key])) is not None:
            values[key] = value
    listen = raw.get("listen", "127.0.0.1")
    if isinstance(listen, str) and listen and listen.isprintable() and " " not in listen:
        values["listen"] = listen
    else:
        c.bad("api.listen", f'an address or host name such as "127.0.0.1", got {listen!r}')
    for key in ("tls_cert", "tls_key"):
        if key in raw:
            path = raw[key]
            if isinstance(path, str) and path.startswith("/"):
                values[key] = Path(path)
            else:
                c.bad(f"api.{key}", f"an absolute path, got {path!r}")
    if ("tls_cert" in raw) != ("tls_key" in raw):
        c.bad("api.tls_cert", "tls_cert and tls_key together (a certificate and its key)")
    if "tls_cert" in raw and raw.get("tls_self_signed") is True:
        c.bad("api.tls_self_signed", "false when tls_cert and tls_key are given")
    origins = raw.get("origins", [])
    if isinstance(origins, list) and all(_origin(o) for o in origins):
        values["origins"] = tuple(str(o).rstrip("/") for o in origins)
    else:
        c.bad("api.origins", 'a list of origins such as ["https://panel.example.org"]')
    return ApiSettings(**values)
