"""Events the notification service publishes: every email's outcome.

One stream per notification (`notification-<notification_id>`), keyed by the organisation it
concerns (`NATIONAL` for a message to no one organisation). A notification is one email to one
recipient caused by one event (or by a schedule: a reminder, or a bulletin); its id is derived
from what caused it and to whom, so a redelivered or replayed cause makes no second email.
Links in emails (set-up, delegation) are never in these events.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from ..registry import REGISTRY, NotificationEvent


class _NotificationEvent(NotificationEvent):
    organisation_id: str = Field(description="the organisation it concerns; the Kafka key")
    notification_id: str
    kind: str = Field(description="what it is, e.g. delegation-invitation, deadline-reminder")
    recipient: str = Field(description="the email address it went (or failed to go) to")
    subject: str
    caused_by: str | None = Field(
        default=None, description="the event id (or schedule) that caused it"
    )
    caused_by_type: str | None = Field(default=None, description="that event's type")
    attempts: int = Field(ge=1)


@REGISTRY.register
class NotificationSent(_NotificationEvent):
    """The SMTP server accepted the email."""

    sent_at: AwareDatetime


@REGISTRY.register
class NotificationFailed(_NotificationEvent):
    """The email could not be delivered and will not be tried again (a permanent refusal, such
    as an unknown mailbox, or retries exhausted)."""

    failed_at: AwareDatetime
    reason: str = Field(max_length=2000)
    smtp_code: int | None = None
