"""Password and sign-in rules on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csm_kernel.errors import InvalidInput
from registration.domain.credentials import SignInPolicy, check_password


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 12"),
        ("x" * 129, "at most 128"),
        ("aaaaaaaaaaaabbbb", "more different characters"),
        ("Password1234", "too common"),
        ("ann.lead-2009!", "email address"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_password(password, "ann.lead@trust.nhs.uk")
    assert info.value.details[0]["field"] == "password"
    assert reason in info.value.details[0]["reason"]


def test_a_long_varied_password_is_accepted() -> None:
    check_password("correct horse battery staple", "ann.lead@trust.nhs.uk")


def test_failures_slow_down_then_lock() -> None:
    policy = SignInPolicy(slow_after=3, lock_after=10, lock_for=timedelta(minutes=15))
    assert [policy.delay_seconds(n) for n in (1, 2)] == [0.0, 0.0]
    delays = [policy.delay_seconds(n) for n in range(3, 10)]
    assert delays == sorted(delays) and delays[0] > 0 and delays[-1] <= policy.max_delay_seconds
    now = datetime(2010, 2, 1, tzinfo=UTC)
    assert policy.lock_until(9, now) is None
    assert policy.lock_until(10, now) == now + timedelta(minutes=15)
