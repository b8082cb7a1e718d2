"""Bar charts as numbers for the templates to draw in SVG: no script, works offline.

Each bar carries its share of the widest bar (0-100) so the template only multiplies; a
quota line sits where the cohort's quota falls on the same scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    share: Decimal  # of the chart's scale, 0-100, for the bar's length
    note: str = ""


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    scale: Decimal
    unit: str = ""
    quota: Decimal | None = None
    quota_share: Decimal | None = None


def _share(value: Decimal, scale: Decimal) -> Decimal:
    if scale <= 0:
        return Decimal(0)
    return (value * 100 / scale).quantize(Decimal("0.1"))


def bar_chart(rows: Iterable[tuple[str, Decimal, str]], *, scale: Decimal | None = None,
              unit: str = "", quota: Decimal | None = None) -> Chart:
    """Bars for (label, value, note) rows; `scale` defaults to the largest value."""
    items = [(label, Decimal(value), note) for label, value, note in rows]
    top = scale if scale is not None else max((v for _, v, _ in items), default=Decimal(0))
    if quota is not None:
        top = max(top, quota)
    return Chart(tuple(Bar(label, value, _share(value, top), note)
                       for label, value, note in items), top, unit, quota,
                 None if quota is None else _share(quota, top))


def grade_distribution(grades: Mapping[str, int], order: Iterable[str],
                       labels: Mapping[str, str], quota: int | None = None) -> Chart:
    """How many managers got each grade, best first; `quota` marks the excellent quota."""
    return bar_chart(((labels.get(g, g), Decimal(grades.get(g, 0)), "") for g in order),
                     quota=None if quota is None else Decimal(quota))
