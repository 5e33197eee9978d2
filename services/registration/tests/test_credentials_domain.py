"""Password and sign-in rules on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csm_kernel.errors import InvalidInput
from registration.domain.credentials import (
    ADDRESS_LOCKED,
    CLIENT_LOCKED,
    AddressFailures,
    Admitted,
    ClientFailures,
    Refused,
    SignInPolicy,
    check_password,
)
from registration.domain.sign_in_keys import SignInKeys, client_network


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


NOW = datetime(2010, 2, 1, 9, 0, tzinfo=UTC)
POLICY = SignInPolicy(lock_after=3, ceiling=5, ceiling_window=timedelta(hours=1))


def test_an_attempt_is_counted_before_its_password_is_checked() -> None:
    first = POLICY.admit(ClientFailures(), AddressFailures(), trusted=False, now=NOW)
    assert isinstance(first, Admitted) and first.attempt == 1
    assert first.client == ClientFailures(1, None, NOW)
    assert first.address == AddressFailures(1, NOW + timedelta(hours=1))
    third = POLICY.admit(ClientFailures(2, None, NOW), first.address, trusted=False, now=NOW)
    assert isinstance(third, Admitted) and third.locks_client
    # The lock is taken at once: a parallel attempt is refused while this one is checked.
    assert third.client == ClientFailures(0, NOW + timedelta(minutes=15), NOW)


def test_a_locked_pair_is_refused_until_its_lock_ends_then_counts_afresh() -> None:
    locked = ClientFailures(0, NOW + timedelta(minutes=15), NOW)
    refused = POLICY.admit(locked, AddressFailures(), trusted=True, now=NOW + timedelta(minutes=1))
    assert refused == Refused(CLIENT_LOCKED, 14 * 60)
    later = POLICY.admit(locked, AddressFailures(), trusted=False, now=NOW + timedelta(minutes=15))
    assert isinstance(later, Admitted) and later.attempt == 1


def test_the_ceiling_refuses_new_clients_but_not_trusted_devices() -> None:
    full = AddressFailures(5, NOW + timedelta(minutes=30))
    assert POLICY.admit(ClientFailures(), full, trusted=False, now=NOW) == Refused(
        ADDRESS_LOCKED, 30 * 60
    )
    trusted = POLICY.admit(ClientFailures(), full, trusted=True, now=NOW)
    assert isinstance(trusted, Admitted) and trusted.address.failures == 6
    # The window ends: counting starts again.
    after = POLICY.admit(ClientFailures(), full, trusted=False, now=NOW + timedelta(minutes=30))
    assert isinstance(after, Admitted) and after.address.failures == 1


def test_a_pairs_failures_are_forgotten_after_a_quiet_day() -> None:
    old = ClientFailures(2, None, NOW)
    soon = POLICY.admit(old, AddressFailures(), trusted=False, now=NOW + timedelta(hours=23))
    assert isinstance(soon, Admitted) and soon.attempt == 3
    later = POLICY.admit(old, AddressFailures(), trusted=False, now=NOW + timedelta(hours=24))
    assert isinstance(later, Admitted) and later.attempt == 1


def test_addresses_are_counted_under_one_key_however_they_are_written() -> None:
    keys = SignInKeys(b"k" * 32)
    assert keys.address(" Ann.Lead@Trust.NHS.uk ") == keys.address("ann.lead@trust.nhs.uk")
    assert keys.address("ann@trust.nhs.uk") != keys.address("ann2@trust.nhs.uk")
    assert keys.address("ann@trust.nhs.uk") != SignInKeys(b"j" * 32).address("ann@trust.nhs.uk")
    assert "ann" not in keys.address("ann@trust.nhs.uk")


def test_a_client_is_its_ipv4_address_or_its_ipv6_64() -> None:
    keys = SignInKeys(b"k" * 32)
    assert client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert keys.client("2001:db8:1:2:aaaa::1") == keys.client("2001:db8:1:2:bbbb::9")
    assert keys.client("2001:db8:1:3::1") != keys.client("2001:db8:1:2::1")
    assert keys.client("::ffff:203.0.113.9") == keys.client("203.0.113.9")
    assert keys.client("203.0.113.9") != keys.client("203.0.113.10")
    # A device and an address never share a key.
    assert keys.device("203.0.113.9") != keys.client("203.0.113.9")
