"""The rules of a scheduled bulletin, without a database: when it may be set for, what may be
done to it once set, and when it is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csm_kernel.errors import Conflict, InvalidInput
from notification.domain.bulletin_schedule import (
    MAX_AHEAD,
    BulletinStatus,
    check_changeable,
    check_send_at,
    is_due,
)

NOW = datetime(2026, 12, 6, 19, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("send_at", "reason"),
    [
        (NOW, "must be in the future"),
        (NOW - timedelta(minutes=1), "must be in the future"),
        (NOW + MAX_AHEAD + timedelta(seconds=1), "must be within a year from now"),
        (datetime(2026, 12, 7, 8, 0), "give the time with its offset, like 2026-12-07T08:00Z"),
    ],
)
def test_a_moment_not_in_the_next_year_is_refused_naming_send_at(
    send_at: datetime, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_send_at(send_at, NOW)
    assert refused.value.details == [{"field": "send_at", "reason": reason}]


def test_a_moment_in_the_future_is_kept_as_given() -> None:
    tomorrow_8am_london = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert check_send_at(tomorrow_8am_london, NOW) == tomorrow_8am_london
    assert check_send_at(NOW + MAX_AHEAD, NOW) == NOW + MAX_AHEAD


def test_only_a_waiting_bulletin_may_be_sent_early_or_cancelled() -> None:
    check_changeable("b1", BulletinStatus.SCHEDULED)
    with pytest.raises(Conflict, match="b1 has already been sent"):
        check_changeable("b1", BulletinStatus.SENT)
    with pytest.raises(Conflict, match="b1 was cancelled"):
        check_changeable("b1", BulletinStatus.CANCELLED)


def test_due_from_its_moment_on_and_only_while_waiting() -> None:
    at = NOW + timedelta(hours=1)
    assert not is_due(BulletinStatus.SCHEDULED, at, NOW)
    assert is_due(BulletinStatus.SCHEDULED, at, at)
    assert is_due(BulletinStatus.SCHEDULED, at, at + timedelta(days=2))  # the service was down
    assert not is_due(BulletinStatus.CANCELLED, at, at)
    assert not is_due(BulletinStatus.SENT, at, at)
    assert not is_due(BulletinStatus.SCHEDULED, None, at)
