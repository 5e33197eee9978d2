"""Simple horizontal bar charts as SVG, drawn on the server (no script, readable without it:
each chart sits beside the table it draws)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import JsonObject

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 260
BAR_WIDTH = 380


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    y: int
    width: int
    shown: str


@dataclass(frozen=True)
class Chart:
    title: str
    measure: str
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").replace("£", ""))
        except ValueError:
            return None
    return None


def chart_of(table: JsonObject, limit: int = 20) -> Chart | None:
    """A bar chart of a table's first numeric column against its first column, or None when
    the table has nothing to chart."""
    columns = table.get("columns") or []
    rows = table.get("rows") or []
    if len(columns) < 2 or not rows:
        return None
    label_key = columns[0]["key"]
    measure = next(
        (c for c in columns[1:] if all(_number(r.get(c["key"])) is not None for r in rows)), None
    )
    if measure is None:
        return None
    points = [(str(r.get(label_key, "")), _number(r.get(measure["key"])) or 0.0) for r in rows]
    points = points[:limit]
    top = max((v for _, v in points), default=0.0) or 1.0
    bars = [
        Bar(
            label[:40],
            value,
            i * (BAR_HEIGHT + GAP),
            max(1, round(BAR_WIDTH * value / top)) if value > 0 else 0,
            f"{value:,.2f}".rstrip("0").rstrip("."),
        )
        for i, (label, value) in enumerate(points)
    ]
    return Chart(
        str(table.get("title", "")), str(measure["label"]), bars, len(bars) * (BAR_HEIGHT + GAP)
    )
