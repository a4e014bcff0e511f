"""The figures of bench/dashboard.py and their table (no Selenium here): what a page load
transferred and when it was drawn, the page's memory over the window, PASS/MISS.

Bytes are counted in KB of 1000 bytes, so the 300 KB target is 300,000 bytes on the wire.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.common import Result, Stats
from bench.stats import percentile

LOAD_KB, LOAD_MS, GROWTH_PCT = 300.0, 1000.0, 5.0
KB = 1000
STREAM = "/api/v1/events/stream"


def _stats(samples: list[float]) -> Stats:
    return Stats(
        median=statistics.median(samples),
        p90=percentile(samples, 90),
        min=min(samples),
        max=max(samples),
        n=len(samples),
    )


def kb(n: float) -> str:
    return f"{n / KB:.1f} KB"


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


@dataclass
class Transfer:
    """One request of a page load, as DevTools saw it."""

    url: str
    status: int = 0
    header_bytes: int = 0
    streamed: int = 0  # dataReceived chunks (used while the response is not finished)
    total: int | None = None  # loadingFinished.encodedDataLength
    cached: bool = False

    @property
    def bytes(self) -> int:
        return self.total if self.total is not None else self.header_bytes + self.streamed

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Load:
    """One navigation: its requests, and when the probe saw every row (or the load event)."""

    transfers: list[Transfer] = field(default_factory=list)
    done_ms: float = 0.0  # rows drawn (the overview) or loadEventEnd (the JSON alone)
    dom_ms: float = 0.0  # rows in the DOM, before the frame that shows them
    timeline: list[tuple[str, float, float]] = field(default_factory=list)  # (path, start, end)

    def page(self) -> list[Transfer]:
        return [t for t in self.transfers if not t.path.startswith(STREAM)]

    def page_bytes(self) -> int:
        return sum(t.bytes for t in self.page())

    def stream_bytes(self) -> int:
        return sum(t.bytes for t in self.transfers if t.path.startswith(STREAM))

    def cached(self) -> int:
        return sum(1 for t in self.transfers if t.cached)


@dataclass
class Figures:
    n: int = 0
    running: int = 0
    cold: list[Load] = field(default_factory=list)
    warm: list[Load] = field(default_factory=list)
    json: list[Load] = field(default_factory=list)
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    churn_actions: int = 0
    churn_failures: int = 0
    window: float = 0.0
    stale: list[str] | None = None  # rows that disagree with the API after the window


# -- the table ----------------------------------------------------------------------------


def _verdict(good: bool) -> str:
    return "PASS" if good else "MISS"


def load_rows(f: Figures) -> list[list[str]]:
    cold_bytes = [float(x.page_bytes()) for x in f.cold]
    json_bytes = [float(x.page_bytes()) for x in f.json]
    warm_bytes = [float(x.page_bytes()) for x in f.warm]
    cb, jb = statistics.median(cold_bytes), statistics.median(json_bytes)
    where = f"N={f.n} ({f.running} running)"
    drawn = Result(
        f"first load, cold cache: navigation start -> {f.n} rows drawn, {where}",
        _stats([x.done_ms for x in f.cold]),
        target_ms=LOAD_MS,
        baseline_name="JSON alone: load event",
        baseline=_stats([x.done_ms for x in f.json]),
    )
    warm = Result(
        "repeat load (ETag revalidation): -> rows drawn", _stats([x.done_ms for x in f.warm])
    )
    return [
        [
            f"first load, cold cache: bytes over the wire (all but the stream), {where}",
            f"{kb(cb)} (max {kb(max(cold_bytes))}, {len(f.cold[0].page())} responses)",
            f"<= {LOAD_KB:.0f} KB",
            f"JSON alone {kb(jb)}",
            f"{cb / jb:.2f}x",
            _verdict(max(cold_bytes) <= LOAD_KB * KB),
        ],
        [
            drawn.name,
            drawn.stats.figure(),
            drawn.target_text(),
            drawn.baseline_text(),
            drawn.ratio_text(),
            drawn.verdict,
        ],
        [
            "repeat load (ETag revalidation): bytes",
            kb(statistics.median(warm_bytes)),
            "-",
            "-",
            "-",
            "-",
        ],
        [warm.name, warm.stats.figure(), "-", "-", "-", "-"],
    ]


def memory_rows(f: Figures) -> list[list[str]]:
    """The first sample (1 min) against the end and against the largest sample after it:
    growth is judged on the largest, so a collection that happens to shrink the heap at the
    end cannot hide a rise before it."""
    if len(f.samples) < 2:
        return []
    (t1, one), (tn, end) = f.samples[0], f.samples[-1]
    out = []
    for name, key, show in (
        ("JS heap used after GC", "JSHeapUsedSize", mb),
        ("DOM nodes (renderer's Nodes, after GC)", "Nodes", lambda v: f"{v:.0f}"),
    ):
        a, z = one["metrics"][key], end["metrics"][key]
        top = max(s["metrics"][key] for _, s in f.samples[1:])
        growth = (top - a) / a * 100 if a else 0.0
        out.append(
            [
                f"{name}: at {t1 / 60:.1f} min -> at {tn / 60:.1f} min",
                f"{show(a)} -> {show(z)} (max after 1st: {show(top)})",
                f"growth <= {GROWTH_PCT:.0f} %",
                f"at {t1 / 60:.1f} min",
                f"{(z - a) / a * 100 if a else 0.0:+.1f} % (max {growth:+.1f} %)",
                _verdict(growth <= GROWTH_PCT),
            ]
        )
    return out


def format_rows(rows: list[list[str]]) -> str:
    header = ["benchmark", "figure", "target", "baseline", "ratio", "result"]
    table = [header, *rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(f: Figures) -> list[str]:
    out = []
    if f.cold:
        last = f.cold[-1]
        out.append(
            f"responses of the last cold load ({kb(last.page_bytes())}; cached: "
            f"{last.cached()}; the event stream meanwhile: {kb(last.stream_bytes())}):"
        )
        out += [f"  {t.status:3} {t.bytes:8} B  {t.path}" for t in last.page()]
        js = f.json[-1].page()
        out.append(f"baseline, JSON alone: {', '.join(f'{t.path} {t.bytes} B' for t in js)}")
        out.append("timeline of the last cold load (ms since navigation start):")
        out += [f"  {a:6.0f} -> {z:6.0f}  {p}" for p, a, z in last.timeline]
        out.append(
            "rows in the DOM (before the frame): median "
            f"{statistics.median(x.dom_ms for x in f.cold):.0f} ms"
        )
    if f.samples:
        out.append(
            f"memory over {f.window:.0f} s, {f.churn_actions} systemctl actions "
            f"({f.churn_failures} rounds failed):"
        )
        for t, s in f.samples:
            m, p = s["metrics"], s["page"]
            out.append(
                f"  {t:5.0f} s  heap {mb(m['JSHeapUsedSize'])}  nodes {m['Nodes']:.0f}  "
                f"documents {m.get('Documents', 0):.0f}  "
                f"listeners {m.get('JSEventListeners', 0):.0f}  elements {p['elements']}  "
                f"rows {p['rows']}  live {p['live']!r}  events {p['events']}"
            )
        if f.stale is not None:
            out.append(
                f"  after the window, {len(f.stale)} rows differ from the API's listing"
                + (f": {'; '.join(f.stale[:5])}" if f.stale else "")
            )
        origins = {round(s["page"]["timeOrigin"]) for _, s in f.samples}
        out.append(
            "  the page was never reloaded"
            if len(origins) == 1
            else f"  the page RELOADED during the window ({len(origins)} documents)"
        )
    return out


def report(f: Figures) -> None:
    rows = load_rows(f) if f.cold else []
    print(f"\nweb dashboard in headless Chromium, N={f.n}")
    print(format_rows(rows + memory_rows(f)))
    print("\n".join(details(f)), flush=True)
