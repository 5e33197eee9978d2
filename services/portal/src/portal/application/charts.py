"""Charts of report tables as Vega-Lite specifications, drawn in the browser by vega-embed.

What each chart shows is declared, not guessed (`chart_specs.CHARTS`): which table, which
column holds the categories, which columns are the measures, and their unit. The builder here
turns a declaration and the report's table into a Vega-Lite spec that says what it shows
(title, axis titles with units), labels its categories, leaves total rows out of the bars and,
when it shows only the top N categories, says how many more there are. The table itself stays
on the page: it is the chart's accessible and no-JavaScript form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .models import JsonObject

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"

#: GOV.UK colours: a bar, a comparison bar, then further series.
PALETTE = (
    "#1d70b8",
    "#b1b4b6",
    "#f47738",
    "#00703c",
    "#4c2c92",
    "#d4351c",
    "#28a197",
    "#912b88",
    "#6f72af",
    "#0b0c0c",
)
#: The self-assessment grades in order, with the colours the grid uses (portal.css).
GRADES = ("red", "amber", "yellow", "pale-green", "green", "dark-green")
GRADE_COLOURS = ("#d4351c", "#f47738", "#ffdd00", "#cce2d8", "#00703c", "#005a30")
#: British number formats for d3-format (Vega-Lite's `config.locale`): £ and thousands commas.
LOCALE = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["£", ""]}
FONT = "GDS Transport, arial, sans-serif"
#: Below this width (px) a chart lays itself out for a phone.
NARROW = 600


@dataclass(frozen=True)
class Unit:
    """What a measure is counted in: the axis title's words and the numbers' format."""

    axis: str
    format: str
    #: Values arrive as percentages (0-100) and are drawn as shares of 1.
    percent: bool = False
    #: Counted in whole numbers: no ticks between them.
    whole: bool = False


MONEY = Unit("£", "$,.0f")
WTE = Unit("whole-time equivalent staff (WTE)", ",.1f")
PERCENT = Unit("%", ".0%", percent=True)


def count(what: str) -> Unit:
    """A count of `what` (services, organisations, PCTs)."""
    return Unit(f"number of {what}", ",d", whole=True)


@dataclass(frozen=True)
class Measure:
    """One measure column and what its bars are called in the legend."""

    key: str
    label: str


@dataclass(frozen=True)
class ChartSpec:
    """A declared chart over one of a report's tables."""

    table: str
    title: str
    #: The column holding the categories, and what they are (the category axis's title).
    category: str
    category_title: str
    measures: tuple[Measure, ...]
    unit: Unit
    #: What is measured, for the value axis ("Investment" -> "Investment (£)").
    measured: str
    #: A column splitting each category's bars into groups (e.g. the cycle in a table that
    #: stacks cycles), drawn as one colour each.
    series: str | None = None
    #: Categories that are totals of the others: never drawn as a bar.
    totals: tuple[str, ...] = ("Total",)
    #: At most this many categories (the largest by the first measure), saying how many more.
    top: int = 15
    #: bar: one bar per measure (grouped when several); stacked: measures stacked in one bar;
    #: line: categories are dates along the x axis.
    kind: Literal["bar", "stacked", "line"] = "bar"
    #: Category and series codes shown as words (e.g. region codes).
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Fixed colours per measure (e.g. the grades').
    colours: tuple[str, ...] | None = None
    #: The value axis's fixed extent, when the measure has one (a 1-4 score).
    domain: tuple[float, float] | None = None


@dataclass(frozen=True)
class Chart:
    """A chart for the page: its Vega-Lite spec and what the page says beside it."""

    title: str
    #: Says what is left out: "The 15 largest of 40 (and 25 more in the table)".
    subtitle: str | None
    table: str
    spec: dict[str, Any]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _axis_title(spec: ChartSpec) -> str:
    unit = spec.unit.axis
    if unit in ("£", "%"):
        return f"{spec.measured} ({unit})"
    return f"{spec.measured}, {unit}" if spec.measured else unit[0].upper() + unit[1:]


def _points(spec: ChartSpec, rows: Sequence[JsonObject]) -> list[dict[str, Any]]:
    """The table's rows as long data: one point per category, series and measure."""
    points = []
    for row in rows:
        raw = row.get(spec.category)
        if raw is None or str(raw) in spec.totals:
            continue
        category = spec.labels.get(str(raw), str(raw))
        for measure in spec.measures:
            value = _number(row.get(measure.key))
            if value is None:
                continue
            if spec.unit.percent:
                value = value / 100.0
            point = {"category": category, "measure": measure.label, "value": value}
            if spec.series is not None:
                series = str(row.get(spec.series, ""))
                point["series"] = spec.labels.get(series, series)
            points.append(point)
    return points


def _kept(spec: ChartSpec, points: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The categories drawn (in table order, or the top N by the first measure) and how many
    are left out."""
    order: list[str] = []
    for p in points:
        if p["category"] not in order:
            order.append(p["category"])
    if spec.kind == "line" or len(order) <= spec.top:
        return order, 0
    first = spec.measures[0].label
    size: dict[str, float] = {}
    for p in points:
        if p["measure"] == first:
            size[p["category"]] = max(size.get(p["category"], 0.0), p["value"])
    ranked = sorted(order, key=lambda c: (-size.get(c, 0.0), order.index(c)))
    return ranked[: spec.top], len(order) - spec.top


def _colour(spec: ChartSpec, field_name: str, domain: list[str]) -> dict[str, Any]:
    colours = list(spec.colours or PALETTE)
    return {
        "field": field_name,
        "type": "nominal",
        "title": None,
        "sort": domain,
        "scale": {"domain": domain, "range": colours[: len(domain)] or colours[:1]},
        # One row of many entries ran off a phone's screen: one column there, three wider.
        "legend": {
            "orient": "bottom",
            "direction": "vertical",
            "columns": {"expr": f"containerSize()[0] < {NARROW} ? 1 : 3"},
            "labelLimit": 200,
        },
    }


def build(spec: ChartSpec, table: JsonObject) -> Chart | None:
    """The chart `spec` declares over `table` (a report table as JSON), or None when the
    table lacks what it needs or has nothing to draw."""
    keys = {c.get("key") for c in table.get("columns") or []}
    wanted = {spec.category, *(m.key for m in spec.measures)}
    if spec.series:
        wanted.add(spec.series)
    if not wanted <= keys:
        return None
    points = _points(spec, table.get("rows") or [])
    if not any(p["value"] for p in points):
        return None  # nothing but zeros: the table says so better than an empty axis
    categories, more = _kept(spec, points)
    points = [p for p in points if p["category"] in categories]
    subtitle = None
    if more:
        subtitle = (
            f"The {len(categories)} largest of {len(categories) + more}, "
            f"and {more} more in the table"
        )
    drawn = _line(spec, points) if spec.kind == "line" else _bars(spec, points, categories)
    vl = {
        "$schema": SCHEMA,
        "title": {"text": spec.title, **({"subtitle": subtitle} if subtitle else {})},
        "description": f"{spec.title}: {_axis_title(spec)} by {spec.category_title.lower()}"
        + (f". {subtitle}" if subtitle else ""),
        "data": {"values": points},
        "width": "container",
        **drawn,
        "config": {
            "locale": {"number": LOCALE},
            "font": FONT,
            "axis": {"labelFontSize": 13, "titleFontSize": 14},
            "legend": {"labelFontSize": 13},
            "title": {"fontSize": 16, "anchor": "start", "subtitleFontSize": 13},
            "view": {"stroke": None},
        },
    }
    return Chart(spec.title, subtitle, spec.table, vl)


def _value_axis(spec: ChartSpec, vertical: bool = False) -> dict[str, Any]:
    scale: dict[str, Any] = {}
    if spec.domain is not None:
        scale["domain"] = list(spec.domain)
    elif spec.unit.percent:
        scale["domain"] = [0, 1]
    return {
        "field": "value",
        "type": "quantitative",
        "title": _axis_title(spec),
        "axis": {
            "format": spec.unit.format,
            # About one tick per 90 pixels across, so a phone's narrow axis keeps its labels
            # apart; five up a vertical one.
            "tickCount": 5 if vertical else {"signal": "ceil(width / 90)"},
            "labelOverlap": True,
            "labelFlush": True,
            **({"tickMinStep": 1} if spec.unit.whole else {}),
        },
        **({"scale": scale} if scale else {}),
        **({"stack": "zero"} if spec.kind == "stacked" else {"stack": None}),
    }


def _bars(spec: ChartSpec, points: list[dict[str, Any]], categories: list[str]) -> dict[str, Any]:
    groups = "series" if spec.series else "measure"
    group_values: list[str] = []
    for p in points:
        if p[groups] not in group_values:
            group_values.append(p[groups])
    several = len(group_values) > 1
    stacked = spec.kind == "stacked"
    per_category = 1 if stacked else len(group_values)
    encoding: dict[str, Any] = {
        "y": {
            "field": "category",
            "type": "nominal",
            "title": spec.category_title,
            "sort": categories,
            # Long category names take at most 40% of a phone's width (the table has them whole).
            "axis": {"labelLimit": {"expr": "max(100, min(260, containerSize()[0] * 0.4))"}},
        },
        "x": _value_axis(spec),
        "tooltip": [
            {"field": "category", "title": spec.category_title},
            {"field": groups, "title": "Series" if spec.series else "Measure"},
            {"field": "value", "title": _axis_title(spec), "format": spec.unit.format},
        ],
    }
    if several or spec.colours:
        encoding["color"] = _colour(spec, groups, group_values)
        if not stacked:
            encoding["yOffset"] = {"field": groups, "sort": group_values}
    label: dict[str, Any] = {
        "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12, "color": "#0b0c0c"},
        "encoding": {
            "text": {"field": "value", "format": spec.unit.format},
            "color": {"value": "#0b0c0c"},
        },
    }
    layers: list[dict[str, Any]] = [{"mark": {"type": "bar", "tooltip": False}}]
    if not stacked:
        layers.append(label)
    return {
        "height": max(60, len(categories) * per_category * 18 + (len(categories) - 1) * 6),
        "encoding": encoding,
        "layer": layers,
    }


def _line(spec: ChartSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    groups = "series" if spec.series else "measure"
    group_values: list[str] = []
    for p in points:
        if p[groups] not in group_values:
            group_values.append(p[groups])
    encoding: dict[str, Any] = {
        "x": {
            "field": "category",
            "type": "temporal",
            "title": spec.category_title,
            "axis": {
                "format": "%-d %b",
                "labelAngle": 0,
                "tickCount": {"signal": "ceil(width / 110)"},
                "labelOverlap": True,
            },
        },
        "y": _value_axis(spec, vertical=True),
        "color": _colour(spec, groups, group_values),
    }
    if spec.series and len(spec.measures) > 1:
        encoding["strokeDash"] = {"field": "measure", "type": "nominal", "title": None}
    return {
        "height": 260,
        "mark": {"type": "line", "interpolate": "step-after", "point": True},
        "encoding": encoding,
    }


def charts_of(specs: Sequence[ChartSpec], tables: Sequence[JsonObject]) -> list[Chart]:
    """Every declared chart whose table the report has, in the declarations' order."""
    by_name = {str(t.get("name")): t for t in tables}
    out = []
    for spec in specs:
        table = by_name.get(spec.table)
        chart = build(spec, table) if table is not None else None
        if chart is not None:
            out.append(chart)
    return out
