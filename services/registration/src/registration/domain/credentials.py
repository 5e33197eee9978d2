"""Rules for passwords and sign-in attempts. Pure: no I/O, time passed in.

Failed sign-ins are counted for an email address whether or not it has an account, so that
nothing (the answer, its headers, how long it takes) says which addresses have one. They are
counted twice:

- per (address, client), the client being the caller's network address or a device the
  person has signed in from before: this is the lockout against guessing, and it locks only
  that pair, so a stranger elsewhere cannot lock a person out of their account;
- per address across all clients, with a much higher ceiling per window, against guessing
  spread over many clients: reaching it refuses every client except trusted devices.

Each attempt is counted *before* its password is checked (and forgiven if it is right), so
parallel attempts cannot slip past the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from csm_kernel.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# The commonest choices that pass a length rule; a serious list belongs in a breach-check
# service, which these machines cannot reach.
_COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "administrator",
    }
)


def check_password(password: str, email: str) -> None:
    """Refuse a weak password with the reason (422 on field `password`)."""

    def refuse(reason: str) -> InvalidInput:
        return InvalidInput.field("password", reason)

    if len(password) < MIN_PASSWORD_LENGTH:
        raise refuse(f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise refuse(f"use at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 5:
        raise refuse("use more different characters")
    lowered = password.lower()
    if lowered in _COMMON:
        raise refuse("that password is too common")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        raise refuse("do not use your email address in your password")


LinkState = Literal["usable", "used", "superseded", "expired", "closed"]


class _EmailedLink(Protocol):
    @property
    def expires_at(self) -> datetime: ...
    @property
    def used_at(self) -> datetime | None: ...
    @property
    def superseded_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...


def link_state(link: _EmailedLink, now: datetime) -> LinkState:
    """What an emailed password link (set-up or reset) is now: used once, a newer one sent,
    past its time, its account closed, or usable."""
    if link.used_at is not None:
        return "used"
    if link.superseded_at is not None:
        return "superseded"
    if link.expires_at <= now:
        return "expired"
    if link.status == "disabled":
        return "closed"
    return "usable"


@dataclass(frozen=True)
class ClientFailures:
    """Failed sign-ins of one (address, client) pair."""

    failures: int = 0
    locked_until: datetime | None = None
    last_attempt_at: datetime | None = None


@dataclass(frozen=True)
class AddressFailures:
    """Failed sign-ins of one address from every client, in the window that ends then."""

    failures: int = 0
    window_ends_at: datetime | None = None


@dataclass(frozen=True)
class Refused:
    """Not even checked: the pair is locked, or the address is past its ceiling."""

    message: str
    retry_after_seconds: int


@dataclass(frozen=True)
class Admitted:
    """Checked, and already counted as a failure (forgiven if the password is right)."""

    attempt: int
    client: ClientFailures
    address: AddressFailures
    delay_seconds: float

    @property
    def locks_client(self) -> bool:
        """This attempt, if it fails, is the one that locks its pair."""
        return self.client.locked_until is not None


CLIENT_LOCKED = (
    "too many failed sign-ins with this email address from your device or network: "
    "wait a while and try again"
)
ADDRESS_LOCKED = (
    "too many failed sign-ins with this email address: sign in from a device you have "
    "signed in on before, or wait a while and try again"
)


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, math.ceil((when - now).total_seconds()))


@dataclass(frozen=True)
class SignInPolicy:
    """Repeated failures slow sign-in down, then lock the (address, client) pair for a while;
    many failures for one address from anywhere lock out every client but trusted devices.

    The defaults follow OWASP ASVS 4.0 level 2, V2.2.1: at most `ceiling` failures per
    `ceiling_window` for an address from new clients (so at most 100 in any hour)."""

    slow_after: int = 3
    lock_after: int = 10
    lock_for: timedelta = timedelta(minutes=15)
    first_delay_seconds: float = 0.25
    max_delay_seconds: float = 4.0
    #: Failures for one address, from every client, that refuse new clients until the window
    #: (started by the first attempt) ends.
    ceiling: int = 50
    ceiling_window: timedelta = timedelta(hours=1)
    #: A pair's failures are forgotten after this long without an attempt.
    forget_after: timedelta = timedelta(hours=24)
    #: A device stays trusted this long after its last successful sign-in.
    trust_device_for: timedelta = timedelta(days=90)

    def delay_seconds(self, failed_attempts: int) -> float:
        """How long to hold the answer to an attempt after this many failures."""
        if failed_attempts < self.slow_after:
            return 0.0
        delay = self.first_delay_seconds * 2 ** (failed_attempts - self.slow_after)
        return float(min(delay, self.max_delay_seconds))

    def lock_until(self, failed_attempts: int, now: datetime) -> datetime | None:
        """When a lock caused by this many failures ends, or None if no lock yet."""
        if failed_attempts < self.lock_after:
            return None
        return now + self.lock_for

    def admit(
        self, client: ClientFailures, address: AddressFailures, *, trusted: bool, now: datetime
    ) -> Refused | Admitted:
        """Whether to check an attempt's password at all, and if so what to count first.
        `trusted`: the client is a device that has signed in to this address before."""
        if client.locked_until is not None and client.locked_until > now:
            return Refused(CLIENT_LOCKED, _seconds_until(client.locked_until, now))
        window_open = address.window_ends_at is not None and address.window_ends_at > now
        if not trusted and window_open and address.failures >= self.ceiling:
            assert address.window_ends_at is not None
            return Refused(ADDRESS_LOCKED, _seconds_until(address.window_ends_at, now))
        recent = (
            client.last_attempt_at is not None and now - client.last_attempt_at < self.forget_after
        )
        attempt = (client.failures if recent else 0) + 1
        locked_until = self.lock_until(attempt, now)
        counted_client = ClientFailures(0 if locked_until else attempt, locked_until, now)
        if window_open:
            counted_address = AddressFailures(address.failures + 1, address.window_ends_at)
        else:
            counted_address = AddressFailures(1, now + self.ceiling_window)
        return Admitted(attempt, counted_client, counted_address, self.delay_seconds(attempt))
