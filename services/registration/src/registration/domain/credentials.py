"""Rules for passwords and sign-in attempts. Pure: no I/O, time passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from csm_kernel.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# The commonest choices that pass a length rule; a serious list belongs in a breach-check
# service, which these machines cannot reach.
_COMMON = frozenset(
    {"password1234", "123456789012", "qwertyuiopas", "passwordpassword", "letmein12345",
     "welcome12345", "changeme1234", "administrator"}
)  # fmt: skip


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


@dataclass(frozen=True)
class SignInPolicy:
    """Repeated failures slow sign-in down, then lock the account for a while."""

    slow_after: int = 3
    lock_after: int = 10
    lock_for: timedelta = timedelta(minutes=15)
    max_delay_seconds: float = 4.0

    def delay_seconds(self, failed_attempts: int) -> float:
        """How long to hold the answer to an attempt after this many failures."""
        if failed_attempts < self.slow_after:
            return 0.0
        return float(min(0.25 * 2 ** (failed_attempts - self.slow_after), self.max_delay_seconds))

    def lock_until(self, failed_attempts: int, now: datetime) -> datetime | None:
        """When a lock caused by this many failures ends, or None if no lock yet."""
        if failed_attempts < self.lock_after:
            return None
        return now + self.lock_for
