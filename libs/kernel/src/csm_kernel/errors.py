"""The small error hierarchy every service raises; `csm_kernel.http` maps it to HTTP statuses.

Messages are shown to callers: they never contain a secret.
"""

from __future__ import annotations

from typing import Any


class CSMError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(CSMError):
    """The thing does not exist, or the caller may not know that it does."""

    status_code = 404


class Conflict(CSMError):
    """The request clashes with the current state (e.g. a code that is already registered)."""

    status_code = 409


class ConcurrencyConflict(Conflict):
    """An append expected a stream version that is no longer current: reload and retry."""

    def __init__(self, stream_id: str, expected: int, actual: int | None = None) -> None:
        found = "" if actual is None else f", found {actual}"
        super().__init__(
            f"stream {stream_id} has changed since it was read (expected version {expected}"
            f"{found}); reload and try again"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class InvalidInput(CSMError):
    """Input that is well-formed but breaks a rule; `details` name the field and the reason."""

    status_code = 422

    @classmethod
    def field(cls, field: str, reason: str) -> InvalidInput:
        """One field's problem."""
        return cls(f"{field}: {reason}", details=[{"field": field, "reason": reason}])


class Unauthorised(CSMError):
    """No valid credentials."""

    status_code = 401


class Forbidden(CSMError):
    """Valid credentials without the role for this action."""

    status_code = 403


class TooManyRequests(CSMError):
    """Slow down: e.g. an account locked after repeated failed sign-ins."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Gone(CSMError):
    """It existed but no longer works (e.g. a delegate's link that was revoked or expired)."""

    status_code = 410
