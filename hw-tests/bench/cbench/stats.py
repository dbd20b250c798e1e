"""Statistics of the benchmark (pure; unit-tested in test_bench_method.py)."""

from __future__ import annotations

import math
import statistics

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t95(df: int) -> float:
    if df < 1:
        return float("nan")
    return _T95[df - 1] if df <= len(_T95) else 1.96


def finite(vals) -> list[float]:
    return [float(v) for v in vals if v is not None and math.isfinite(float(v))]


def median(vals) -> float:
    v = finite(vals)
    return statistics.median(v) if v else float("nan")


def spread(vals) -> float:
    """(max - min) / median, the issue's spread; nan without two values."""
    v = finite(vals)
    if len(v) < 2:
        return float("nan")
    m = statistics.median(v)
    return (max(v) - min(v)) / m if m else float("nan")


def ci95(vals) -> tuple[float, float, float]:
    """Mean and its 95 % confidence interval (Student's t): (mean, lo, hi)."""
    v = finite(vals)
    if not v:
        return float("nan"), float("nan"), float("nan")
    m = statistics.fmean(v)
    if len(v) < 2:
        return m, float("nan"), float("nan")
    h = t95(len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))
    return m, m - h, m + h


def ci_halfwidth_pct(vals) -> float:
    """Half the 95 % interval as a percentage of the mean."""
    m, lo, hi = ci95(vals)
    return (hi - lo) / 2 / m * 100 if m and math.isfinite(lo) else float("nan")


def paired_ratios(xs: dict[int, float], bs: dict[int, float]) -> list[float]:
    """x/b for every repetition both have (repetitions are interleaved, so
    the pair ran in the same period of the host's life)."""
    out = []
    for r in sorted(set(xs) & set(bs)):
        x, b = xs[r], bs[r]
        if b and math.isfinite(x) and math.isfinite(b):
            out.append(x / b)
    return out


def schedule(names: list[str], reps: int) -> list[tuple[int, str]]:
    """Interleaved repetitions: every repetition boots every configuration
    once, in an order rotated by one each repetition, so no configuration
    always runs first (cold host caches) or last."""
    out = []
    n = len(names)
    for r in range(reps):
        k = r % n if n else 0
        out += [(r, c) for c in names[k:] + names[:k]]
    return out
