"""Dates people type (day, month, year and a time, as the GOV.UK date pattern asks) and the
aware timestamps the services want; and dates and times shown as GOV.UK writes them
("6 December 2026 at 8:14am").

People in England mean England's clock: 17:00 on 28 February is 17:00 GMT, and 17:00 on
1 June is 17:00 BST. So a typed time is read in Europe/London and sent as UTC, and a
timestamp shown back in a form is turned into London time first."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
PARTS = ("day", "month", "year", "time")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


@dataclass(frozen=True)
class When:
    """One date-and-time field: its name (the inputs are `{name}-day` ...), its label, and the
    words its messages use: `event` completes "Enter the date ..." ("data entry closes"), and
    `after` is what to say when it is not after the field before it in a timetable."""

    name: str
    label: str
    default_time: str = "00:00"
    event: str = ""
    after: str = ""

    @property
    def what(self) -> str:
        return self.event or self.label.lower()


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
    """The typed moment as an aware UTC datetime, or the message to show beside the field
    (worded as the GOV.UK date input pattern words them)."""
    day, month, year, typed_time = (form.get(f"{field.name}-{p}", "").strip() for p in PARTS)
    if not (day or month or year):
        return None, f"Enter the date {field.what}, for example 28 2 2010"
    missing = [p for p, v in (("day", day), ("month", month), ("year", year)) if not v]
    if missing:
        return None, f"The date {field.what} must include a {' and a '.join(missing)}"
    real = f"The date {field.what} must be a real date, for example 28 2 2010"
    if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
        return None, real
    try:
        on = date(int(year), int(month), int(day))
    except ValueError:
        return None, real
    m = _TIME.match(typed_time or field.default_time)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None, f"The time {field.what} must be on the 24-hour clock, for example 17:00"
    at = datetime.combine(on, time(int(m.group(1)), int(m.group(2))), tzinfo=LONDON)
    return at.astimezone(UTC), None


def out_of_order(fields: Sequence[When], moments: Mapping[str, datetime]) -> list[tuple[str, str]]:
    """Each field of a timetable that is not after the one before it, as (its date input's
    id, its `after` message); fields not read are left out of the comparison."""
    problems = []
    for earlier, later in itertools.pairwise(fields):
        a, b = moments.get(earlier.name), moments.get(later.name)
        if a is not None and b is not None and not a < b:
            problems.append(
                (f"{later.name}-day", later.after or f"{later.label} must be after {earlier.what}")
            )
    return problems


def _moment(value: object) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        pass
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        pass
    try:  # an email's Date header: "Sun, 06 Dec 2026 16:39:12 +0000"
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None


def gov_date(value: object) -> str:
    """A date as GOV.UK writes it, on England's calendar: "6 December 2026" (a timestamp's
    London date). Anything that is not a date is shown as it is."""
    at = _moment(value)
    if at is None:
        return str(value) if value else ""
    if isinstance(at, datetime) and at.tzinfo is not None:
        at = at.astimezone(LONDON)
    return f"{at.day} {at:%B %Y}"


def gov_time(at: datetime) -> str:
    """A time as GOV.UK writes it: 8:14am, 5pm, midday, midnight."""
    if at.hour == 0 and at.minute == 0:
        return "midnight"
    if at.hour == 12 and at.minute == 0:
        return "midday"
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    return f"{hour}{suffix}" if at.minute == 0 else f"{hour}:{at.minute:02d}{suffix}"


def gov_datetime(value: object) -> str:
    """A timestamp as GOV.UK writes it, on England's clock: "6 December 2026 at 8:14am";
    a moment at midnight (a date typed without a time) is shown as its date alone."""
    at = _moment(value)
    if not isinstance(at, datetime):
        return gov_date(value)
    if at.tzinfo is not None:
        # The services speak UTC; the forms read typed times as UK time, so show them so too.
        at = at.astimezone(LONDON)
    if at.hour == 0 and at.minute == 0:
        return gov_date(at)
    return f"{gov_date(at)} at {gov_time(at)}"
