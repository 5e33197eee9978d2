"""Deadline reminders, the rules: which schedules are valid, which offset is due for a return,
what a reminder says. Pure.

- an organisation's close is the cycle's `data_entry_closes`, or its extension if later;
- the reminder for offset `d` is due from close - d days (days of 24 hours), and only before
  the close;
- when several offsets are due at once (the service was down, the cycle was scheduled late)
  only the nearest (the smallest due `d`) is sent: never a burst of stale reminders;
- each is sent once per (cycle, organisation, offset, close): an extension moves the close,
  and reminders count down to the new date.

The reminder run selects the due returns in one set-based query over every organisation (the
adapter's `_DUE`, which applies `nearest_due` in SQL for thousands of returns at once); a test
holds the two to the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csm_kernel.errors import InvalidInput

from .notification import Intent, Kind

DEFAULT_DAYS_BEFORE: tuple[int, ...] = (28, 14, 7, 1)
MAX_OFFSETS = 10
MAX_DAYS_BEFORE = 120

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _uk_zone() -> tzinfo:
    # Deadlines are read in England; an image without time-zone data still says UTC honestly.
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # pragma: no cover - depends on the host's tz database
        return UTC


_UK = _uk_zone()
#: UK time (UTC where the host has no time zone database).
UK = _UK


def human_time(at: datetime) -> str:
    """`28 February 2010, 23:59` in UK time (independent of the process's locale)."""
    local = at.astimezone(_UK)
    suffix = " UTC" if _UK is UTC else ""
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}{suffix}"


def days_left(close: datetime, now: datetime) -> int:
    """Whole days still to go, rounded up (a reminder 23 h before the close says 1 day)."""
    return max(1, math.ceil((close - now) / timedelta(days=1)))


def validate_schedule(days_before: Sequence[int]) -> list[int]:
    """The schedule, largest offset first; `InvalidInput` naming `days_before` otherwise."""
    if not 1 <= len(days_before) <= MAX_OFFSETS:
        raise InvalidInput.field("days_before", f"give between 1 and {MAX_OFFSETS} offsets")
    for d in days_before:
        # bool is an int in Python; a JSON true is not a number of days.
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DAYS_BEFORE:
            raise InvalidInput.field(
                "days_before", f"each offset is a whole number of days from 1 to {MAX_DAYS_BEFORE}"
            )
    if len(set(days_before)) != len(days_before):
        raise InvalidInput.field("days_before", "offsets must be distinct")
    return sorted(days_before, reverse=True)


def close_of(closes_at: datetime, extension_until: datetime | None) -> datetime:
    """A return's close: the cycle's, or its extension if that is later."""
    return max(closes_at, extension_until) if extension_until is not None else closes_at


def nearest_due(days_before: Sequence[int], close: datetime, now: datetime) -> int | None:
    """The offset due for a return at `now`: the smallest `d` whose moment (close - d days)
    has come, while the close is still ahead; None when none is due."""
    if close <= now:
        return None
    due = [d for d in days_before if close - timedelta(days=d) <= now]
    return min(due) if due else None


@dataclass(frozen=True)
class DueReminder:
    """One return owing the reminder of offset `days_before` against its close."""

    cycle: str
    organisation_id: str
    organisation_name: str
    email: str
    lead_name: str
    closes_at: datetime
    extended: bool
    days_before: int


def reminder_intent(due: DueReminder, now: datetime, portal_url: str) -> Intent:
    """The reminder email for one due return; its cause names the cycle, organisation, offset
    and close, so it is recorded once, and a moved close makes a new one."""
    close = due.closes_at.astimezone(UTC)
    return Intent(
        kind=Kind.DEADLINE_REMINDER,
        organisation_id=due.organisation_id,
        recipient=due.email,
        recipient_name=due.lead_name,
        cause=f"reminder/{due.cycle}/{due.organisation_id}/{due.days_before}/{close.isoformat()}",
        caused_by_type="reminder",
        context={
            "organisation_name": due.organisation_name,
            "cycle": due.cycle,
            "deadline": human_time(close),
            "days_left": days_left(close, now),
            "extended": due.extended,
            "name": due.lead_name,
            "link": f"{portal_url.rstrip('/')}/returns/{due.cycle}",
        },
    )
