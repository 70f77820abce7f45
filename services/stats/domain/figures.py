"""From summed rollup rows to what a dashboard shows: buckets, totals, averages, medians.

Every report is one list of rows from one query (the *series*: one row per bucket and
dimension; the buckets are made in SQL by the rule of ``buckets.bucket_start``). The
summary and the breakdown are folds of that same list, and the CSV export is the list
itself, so the three always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Row = dict[str, Any]


def fold(rows: Iterable[Row], by: Sequence[str], measures: Sequence[str]) -> list[Row]:
    """Sum the measures per value of ``by`` (nothing: one total row), in order of ``by``."""
    if not by:
        rows = list(rows)
        return [{m: sum(r[m] for r in rows) for m in measures}]
    folded: dict[tuple, Row] = {}
    for row in rows:
        key = tuple(row[d] for d in by)
        out = folded.get(key)
        if out is None:
            out = folded[key] = {d: row[d] for d in by} | dict.fromkeys(measures, 0)
        for m in measures:
            out[m] += row[m]
    return [folded[key] for key in sorted(folded, key=_sort_key)]


def average_seconds(total_ms: int, count: int) -> float | None:
    """Mean duration in seconds (1 decimal); None when there is nothing to average."""
    return round(total_ms / count / 1000, 1) if count else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def median(histogram: dict[int, int]) -> float | None:
    """The median of a distribution given as value -> how many (exact, integers)."""
    n = sum(histogram.values())
    if n == 0:
        return None
    values = sorted(histogram)

    def nth(k: int) -> int:  # the k-th smallest value, 0-based
        seen = 0
        for v in values:
            seen += histogram[v]
            if k < seen:
                return v
        raise IndexError(k)

    if n % 2:
        return float(nth(n // 2))
    return (nth(n // 2 - 1) + nth(n // 2)) / 2


def _sort_key(key: tuple) -> tuple:
    # None sorts first, and mixed types never meet in one position.
    return tuple((v is not None, v) for v in key)
