"""Summary statistics of wall times; standard library only (also imported inside the container)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """median, p90, min, max and n of samples in milliseconds."""
    return {
        "median": statistics.median(samples_ms),
        "p90": percentile(samples_ms, 90),
        "min": min(samples_ms),
        "max": max(samples_ms),
        "n": float(len(samples_ms)),
    }
