"""The web dashboard's files: one HTML shell for every page, its scripts and style
(warlockd/web/static/, installed with the package), and Debian's Chart.js.

Nothing here needs credentials: the shell and the scripts hold no data; every figure the
page shows comes from the API with the session's cookie (or is refused with 401, and the
page shows its login form). So these are plain Starlette routes beside the API's, outside
its OpenAPI document.

Every file is read once, when the app is built, and kept with its gzip form and an ETag:
a page load costs no disk read and sends the compressed bytes where the browser takes
them. The pages carry a strict Content-Security-Policy: scripts and styles from this
origin only, no inline script or style, no inline event handler, no framing, no plugin,
and requests to this origin only (the API and its streams).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from ..paths import CHART_JS, web_static

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The dashboard's own paths; each gets the shell, whose script draws the page the path names.
PAGES = ("/", "/login", "/new", "/admin", "/instances/{instance_id}")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CHART_NAME = "vendor/chart.min.js"


class Asset(NamedTuple):
    body: bytes
    gzipped: bytes | None  # None when compressing saves nothing (a PNG)
    etag: str
    media_type: str


def asset(body: bytes, media_type: str) -> Asset:
    packed = gzip.compress(body, 9, mtime=0)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, packed if len(packed) < len(body) else None, etag, media_type)


def load(root: Path, chart: Path = CHART_JS) -> dict[str, Asset]:
    """Every file under `root` whose type is known, by its path below it, and Chart.js when
    Debian's package is there (the instance page says so when it is not)."""
    found: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        kind = TYPES.get(path.suffix)
        if kind is not None and path.is_file() and not path.is_symlink():
            found[path.relative_to(root).as_posix()] = asset(path.read_bytes(), kind)
    if chart.is_file():
        found[CHART_NAME] = asset(chart.read_bytes(), TYPES[".js"])
    return found


def answer(request: Request, item: Asset, headers: dict[str, str]) -> Response:
    headers = headers | {"etag": item.etag, "vary": "accept-encoding"}
    if request.headers.get("if-none-match") == item.etag:
        return Response(status_code=304, headers=headers)
    if item.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(item.gzipped, media_type=item.media_type, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


def add(app: FastAPI, root: Path | None = None, chart: Path = CHART_JS) -> None:
    files = load(root or web_static(), chart)
    shell = files["index.html"]
    page_headers = {"content-security-policy": CSP, "cache-control": "no-cache"}

    async def page(request: Request) -> Response:
        return answer(request, shell, page_headers)

    async def static(request: Request) -> Response:
        item = files.get(request.path_params["name"])
        if item is None or request.path_params["name"] == "index.html":
            return Response(
                b'{"error":"no such file","hint":"the dashboard starts at /"}',
                status_code=404, media_type="application/json",
            )  # fmt: skip
        return answer(request, item, {"cache-control": "no-cache"})

    for path in PAGES:
        app.add_route(path, page, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route("/static/{name:path}", static, methods=["GET", "HEAD"], include_in_schema=False)
