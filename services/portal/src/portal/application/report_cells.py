"""Report values as people read them on the page (GOV.UK style): £760,000, 1,234, Yes/No,
"6 December 2026 at 8:14am" (on England's clock), and region codes as names. The files keep
the plain values; this is the page only."""

from __future__ import annotations

import re
from datetime import date, datetime

from .dates import LONDON

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
