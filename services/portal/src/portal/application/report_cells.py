"""Report values as people read them on the page (GOV.UK style): £760,000, 1,234, Yes/No,
"6 December 2026 at 8:14am" (on England's clock), and region codes as names. The files keep
the plain values; this is the page only."""

from __future__ import annotations

import re
from datetime import date, datetime

from .dates import LONDON
from .words import REGION_NAMES, kind_name, label

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: A code as the services write it ("in-progress", "early_intervention").
_CODE = re.compile(r"^[a-z][a-z0-9]*([-_][a-z0-9]+)*$")
#: Columns whose values are codes a person reads as words ("in-progress" -> "In progress").
CODED_COLUMNS = frozenset(
    {"status", "delegation_status", "phase", "level_of_need", "provider_sector", "service_type"}
)
#: Columns that name a region, or (the year-on-year tables) "national" or a region.
REGION_COLUMNS = frozenset({"region", "provider_region", "group"})


def when(at: datetime) -> str:
    """A moment as GOV.UK writes it, in London time: 6 December 2026 at 8:14am."""
    if at.tzinfo is not None:
        at = at.astimezone(LONDON)
    hour = at.hour % 12 or 12
    minutes = f":{at.minute:02d}" if at.minute else ""
    clock = f"{hour}{minutes}{'am' if at.hour < 12 else 'pm'}"
    clock = {"12am": "midnight", "12pm": "midday"}.get(clock, clock)
    return f"{at.day} {at:%B %Y} at {clock}"


def _number(value: float, money: bool, share: bool = False) -> str:
    if share:
        return f"{value:,.1f}".removesuffix(".0") + "%"
    if money:
        whole = round(value) == value or abs(value) >= 1000
        text = f"{abs(value):,.0f}" if whole else f"{abs(value):,.2f}"
        return ("-" if value < 0 else "") + "£" + text
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def shown(value: object, label: str = "") -> str:
    """One value of a report as text for the page; `label` (the column's) says whether a
    number is money (it has "£") or a percentage (it has "%")."""
    if value is None or value == "":
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return _number(value, "£" in label, "%" in label)
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    text = str(value)
    if _ISO_TIME.match(text):
        try:
            return when(datetime.fromisoformat(text))
        except ValueError:
            return text
    if _ISO_DATE.match(text):
        try:
            on = date.fromisoformat(text)
        except ValueError:
            return text
        return f"{on.day} {on:%B %Y}"
    return text


def cell(value: object, key: str = "", column_label: str = "") -> str:
    """One table cell as the page shows it: regions by their names (wherever a region's code
    is the whole value), "national" as National where a column names regions, organisation
    kinds by name, status-like codes as words, and everything else as `shown` writes it."""
    if isinstance(value, str):
        if value in REGION_NAMES:
            return REGION_NAMES[value]
        if key in REGION_COLUMNS and value == "national":
            return "National"
        if key == "kind":
            return kind_name(value)
        if key in CODED_COLUMNS and _CODE.match(value):
            return label(value)
    return shown(value, column_label)
