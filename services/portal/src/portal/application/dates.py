"""Dates people type (day, month, year and a time, as the GOV.UK date pattern asks) and the
aware timestamps the services want.

People in England mean England's clock: 17:00 on 28 February is 17:00 GMT, and 17:00 on
1 June is 17:00 BST. So a typed time is read in Europe/London and sent as UTC, and a
timestamp shown back in a form is turned into London time first."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
PARTS = ("day", "month", "year", "time")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


@dataclass(frozen=True)
class When:
    """One date-and-time field: its name (the inputs are `{name}-day` ...) and label."""

    name: str
    label: str
    default_time: str = "00:00"


def parts_of(value: str | None, name: str) -> dict[str, str]:
    """An ISO timestamp as the date input's values, in London time (empty when unset)."""
    if not value:
        return {}
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return {}
    if at.tzinfo is not None:
        at = at.astimezone(LONDON)
    return {
        f"{name}-day": str(at.day),
        f"{name}-month": str(at.month),
        f"{name}-year": str(at.year),
        f"{name}-time": f"{at:%H:%M}",
    }


def read_when(form: Mapping[str, str], field: When) -> tuple[datetime | None, str | None]:
    """The typed moment as an aware UTC datetime, or the message to show beside the field."""
    day, month, year, typed_time = (form.get(f"{field.name}-{p}", "").strip() for p in PARTS)
    if not (day or month or year):
        return None, f"Enter {field.label.lower()}"
    missing = [p for p, v in (("day", day), ("month", month), ("year", year)) if not v]
    if missing:
        return None, f"{field.label} must include a {' and '.join(missing)}"
    if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
        return None, f"{field.label} must be a real date, like 28 2 2010"
    try:
        on = date(int(year), int(month), int(day))
    except ValueError:
        return None, f"{field.label} must be a real date, like 28 2 2010"
    m = _TIME.match(typed_time or field.default_time)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None, f"{field.label}: enter the time on the 24-hour clock, like 17:00"
    at = datetime.combine(on, time(int(m.group(1)), int(m.group(2))), tzinfo=LONDON)
    return at.astimezone(UTC), None
