"""A notification: one email, to one recipient, for one cause, and what becomes of it. Pure.

Its id is derived from its dedupe key (what caused it, what kind of email, to whom), so the
same cause can never make two: an event redelivered or replayed, a reminder run twice.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from csm_kernel.errors import Conflict

NAMESPACE = uuid.UUID("0c7b1f0e-5d4a-4f47-9d61-3f0a8f6e2b11")


class Kind:
    """Every kind of email the service sends (the template names)."""

    ACCOUNT_SET_UP = "account-set-up"
    LEAD_REPLACED = "lead-replaced"
    DELEGATION_INVITATION = "delegation-invitation"
    DELEGATION_REVOKED = "delegation-revoked"
    QUESTIONNAIRE_RETURNED = "questionnaire-returned"
    QUESTIONNAIRE_SENT_BACK = "questionnaire-sent-back"
    SIGN_OFF_CONFIRMATION = "sign-off-confirmation"
    RETURN_REOPENED = "return-reopened"
    EXTENSION_GRANTED = "extension-granted"
    PASSWORD_RESET = "password-reset"  # noqa: S105 - a template's name, not a secret
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 - a template's name, not a secret
    DEADLINE_REMINDER = "deadline-reminder"
    BULLETIN = "bulletin"


@dataclass(frozen=True)
class Intent:
    """An email the service has decided to send."""

    kind: str
    organisation_id: str
    recipient: str
    #: What makes it unique besides kind and recipient: the causing event's id, or a schedule's
    #: own key (e.g. `reminder/2009-10/5A4/7`).
    cause: str
    context: dict[str, Any] = field(default_factory=dict)
    recipient_name: str | None = None
    caused_by_type: str | None = None

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}/{self.cause}/{self.recipient.lower()}"

    @property
    def id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, self.dedupe_key))


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to try again after `attempts` failures: 5 s doubling to at most 15 min."""
    return now + timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 900))


class Outcome(enum.Enum):
    """What one attempt at an email comes to."""

    SENT = "sent"
    #: Refused for good, or out of attempts: `failed`, with `NotificationFailed`.
    FAILED = "failed"
    #: Failed for now: tried again at `next_attempt`.
    DEFERRED = "deferred"


def outcome_of(*, accepted: bool, permanent: bool, attempts: int, max_attempts: int) -> Outcome:
    """The outcome of an attempt, `attempts` counting it: accepted is sent; a refusal for good,
    or a failure for now that spent the last attempt, is failed; any other failure waits."""
    if accepted:
        return Outcome.SENT
    if permanent or attempts >= max_attempts:
        return Outcome.FAILED
    return Outcome.DEFERRED


def check_retryable(notification_id: str, status: str) -> None:
    """Only a failed email goes back in the queue: a sent one is never sent again from here,
    and a pending one is already waiting. `Conflict` otherwise."""
    if status != "failed":
        raise Conflict(f"notification {notification_id} is {status}: only a failed one is retried")
