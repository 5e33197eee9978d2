"""A bulletin scheduled for later, the rules: when it may be set for, what may be done to it,
and what it becomes once sent. Pure.

A scheduled bulletin stores its filter, not its recipients: who it goes to is worked out when
it is sent (a lead who signs off meanwhile is left out of a "not signed off" bulletin, a lead
nominated meanwhile is in).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from csm_kernel.errors import Conflict, InvalidInput

#: How far ahead a bulletin may be scheduled: beyond a year is a typo, not a plan.
MAX_AHEAD = timedelta(days=366)


class BulletinStatus(StrEnum):
    """Where a bulletin is: waiting for its time, sent (its emails recorded), or cancelled."""

    SCHEDULED = "scheduled"
    SENT = "sent"
    CANCELLED = "cancelled"


def check_send_at(send_at: datetime, now: datetime) -> datetime:
    """The moment a bulletin is to be sent, if it may be: `InvalidInput` naming `send_at`
    for one without a time zone, one not in the future, or one more than a year ahead."""
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        raise InvalidInput.field("send_at", "give the time with its offset, like 2026-12-07T08:00Z")
    if send_at <= now:
        raise InvalidInput.field("send_at", "must be in the future")
    if send_at > now + MAX_AHEAD:
        raise InvalidInput.field("send_at", "must be within a year from now")
    return send_at


def check_changeable(bulletin_id: str, status: str) -> None:
    """Only a bulletin still waiting for its time may be sent early or cancelled: `Conflict`
    saying what became of it otherwise."""
    if status == BulletinStatus.SCHEDULED:
        return
    if status == BulletinStatus.CANCELLED:
        raise Conflict(f"bulletin {bulletin_id} was cancelled")
    raise Conflict(f"bulletin {bulletin_id} has already been sent")


def is_due(status: str, send_at: datetime | None, now: datetime) -> bool:
    """A scheduled bulletin is due from its moment on (the scheduler may run late, never
    early); the store's due query says the same in SQL."""
    return status == BulletinStatus.SCHEDULED and send_at is not None and send_at <= now
