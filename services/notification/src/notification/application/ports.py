"""What the application needs from the world, as Protocols the adapters implement (bootstrap
wires them), and the plain records that cross them.

Ports used by a consumer's handlers take the consumer's opaque `Connection`: their writes join
the transaction that records the message as processed, so an event's effect happens once. The
others open their own transactions; where a use case needs several steps in one, the port hands
out an opaque `Connection` (`transaction()`, `claim()`, `reminder_run()`) for the following calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from csm_contracts.events.notifications import NotificationFailed, NotificationSent
from csm_kernel.database import Connection
from csm_kernel.store.base import AppendContext

from ..domain.bulletins import Recipient
from ..domain.emails import Lead
from ..domain.notification import Intent
from ..domain.reminders import DueReminder

# --- recording intents -------------------------------------------------------------------


class Intents(Protocol):
    """The emails to send (the `notifications` table), one per dedupe key."""

    async def record(self, conn: Connection, intents: Sequence[Intent], now: datetime) -> int:
        """Record emails to send, in the caller's transaction (an intent already recorded is
        left alone); how many are new."""
        ...


# --- what the consumers keep ---------------------------------------------------------------


class Directory(Protocol):
    """This service's copy of organisations, their leads and questionnaires' titles, written
    and read in a consumer's transaction."""

    async def upsert_organisation(
        self, conn: Connection, code: str, name: str, kind: str, region: str
    ) -> None: ...

    async def rename_organisation(self, conn: Connection, code: str, name: str) -> None: ...

    async def organisation_name(self, conn: Connection, code: str) -> str | None: ...

    async def lead(self, conn: Connection, organisation_id: str) -> Lead | None: ...

    async def set_lead(self, conn: Connection, lead: Lead) -> None: ...

    async def add_questionnaire(
        self, conn: Connection, questionnaire_id: str, organisation_id: str, cycle: str, title: str
    ) -> None:
        """Keep a questionnaire's title (the first one seen stays)."""
        ...

    async def questionnaire_title(self, conn: Connection, questionnaire_id: str) -> str | None: ...


class ReminderState(Protocol):
    """What the reminders know of each cycle and return, kept in a consumer's transaction. Each
    write carries when its event happened: an older one never overwrites a newer."""

    async def set_timetable(
        self, conn: Connection, cycle: str, opens: datetime, closes: datetime, at: datetime
    ) -> None:
        """The cycle's dates (a schedule the national team set first is kept)."""
        ...

    async def set_extension(
        self, conn: Connection, cycle: str, organisation_id: str, until: datetime, at: datetime
    ) -> None:
        """The latest extension counts, even if shorter than an earlier one."""
        ...

    async def set_signed_off(
        self,
        conn: Connection,
        cycle: str,
        organisation_id: str,
        signed_off_at: datetime | None,
        at: datetime,
    ) -> None: ...


# --- the reminder schedule and run ---------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A cycle's reminder schedule (largest offset first) and its close, as known here."""

    cycle: str
    days_before: list[int]
    closes_at: datetime | None
    data_entry_opens: datetime | None
    set_by: str | None
    set_at: datetime | None


@dataclass(frozen=True)
class OffsetCount:
    """The reminders recorded for one offset of a cycle, and what became of their emails."""

    days_before: int
    recorded: int
    sent: int
    failed: int


@dataclass(frozen=True)
class NextDue:
    """An organisation due the next reminder (of the earliest moment any is due)."""

    organisation_id: str
    organisation_name: str
    days_before: int
    due_at: datetime
    closes_at: datetime
    #: How many organisations are due at that moment (the rows are at most a page of them).
    total: int


class ReminderStore(Protocol):
    """The reminder schedules and what has been recorded against them."""

    def reminder_run(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction that no other reminder run (of any process) holds at once."""
        ...

    async def due(self, conn: Connection, now: datetime) -> list[DueReminder]:
        """Every return owing a reminder now (its nearest due offset, not yet recorded against
        its close)."""
        ...

    async def mark_recorded(
        self, conn: Connection, recorded: Sequence[tuple[DueReminder, Intent]], now: datetime
    ) -> None: ...

    async def set_schedule(
        self, cycle: str, days_before: Sequence[int], actor: str, at: datetime
    ) -> None: ...

    async def schedule(self, cycle: str) -> Schedule | None: ...

    async def recorded(self, cycle: str) -> list[OffsetCount]: ...

    async def next_due(self, cycle: str, now: datetime) -> list[NextDue]: ...


# --- bulletins -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BulletinRecord:
    """A bulletin as stored: `recipients` is None until it is sent (a scheduled one's are
    worked out then); `status` is a `domain.bulletin_schedule.BulletinStatus`."""

    id: str
    subject: str
    body: str
    filter: dict[str, Any]
    recipients: int | None
    created_at: datetime
    created_by: str
    status: str = "sent"
    send_at: datetime | None = None
    sent_at: datetime | None = None
    sent_by: str | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None


@dataclass(frozen=True)
class BulletinDelivery:
    """A bulletin and what became of its emails."""

    bulletin: BulletinRecord
    pending: int
    sent: int
    failed: int


class BulletinStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def scheduler_run(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction holding the bulletin scheduler's lock: one replica's run at a time."""
        ...

    async def known_organisations(self, conn: Connection, codes: Sequence[str]) -> list[str]: ...

    async def recipients(
        self,
        conn: Connection,
        regions: Sequence[str],
        kinds: Sequence[str],
        organisation_ids: Sequence[str],
        not_signed_off_in: str | None = None,
    ) -> list[Recipient]:
        """The leads a filter picks (an empty list does not narrow), by organisation; with
        `not_signed_off_in`, only those whose return for that cycle is not signed off."""
        ...

    async def add(self, conn: Connection, bulletin: BulletinRecord) -> None: ...

    async def locked(self, conn: Connection, bulletin_id: str) -> BulletinRecord | None:
        """The bulletin, its row locked until `conn`'s transaction ends (None: no such)."""
        ...

    async def due(self, conn: Connection, now: datetime) -> list[BulletinRecord]:
        """The scheduled bulletins whose moment has come, their rows locked; those another
        transaction holds are skipped (it is sending or cancelling them)."""
        ...

    async def mark_sent(
        self, conn: Connection, bulletin_id: str, recipients: int, at: datetime, by: str
    ) -> None: ...

    async def mark_cancelled(
        self, conn: Connection, bulletin_id: str, at: datetime, by: str
    ) -> None: ...

    async def get(self, bulletin_id: str) -> BulletinDelivery | None: ...

    async def latest(self, limit: int) -> list[BulletinDelivery]:
        """Those waiting for their time first (soonest first), then the rest newest first."""
        ...


# --- the delivery log ----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One email as the delivery log keeps it (never its context: it holds link ids)."""

    id: str
    kind: str
    organisation_id: str
    recipient: str
    recipient_name: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    smtp_code: int | None
    subject: str | None
    created_at: datetime
    sent_at: datetime | None
    caused_by: str | None
    caused_by_type: str | None


@dataclass(frozen=True)
class DeliveryFilter:
    organisation_id: str | None = None
    kind: str | None = None
    status: str | None = None
    recipient: str | None = None
    caused_by: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class KindCount:
    kind: str
    status: str
    count: int


class DeliveryLog(Protocol):
    async def page(
        self,
        where: DeliveryFilter,
        before: tuple[datetime, str] | None,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
    ) -> list[Delivery]:
        """Newest first (created_at, id): the `limit` older than the `before` cursor, or
        (`after`) the `limit` just newer than that cursor."""
        ...

    async def counts(self, organisation_id: str | None, since: datetime | None) -> list[KindCount]:
        """By kind and status, in that order."""
        ...

    async def failed(
        self, organisation_id: str | None, since: datetime | None, limit: int
    ) -> list[Delivery]: ...

    async def retrying(self, organisation_id: str | None, since: datetime | None) -> int:
        """How many are pending after a failed attempt."""
        ...

    async def get(self, notification_id: str) -> Delivery | None: ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    async def status_for_update(self, conn: Connection, notification_id: str) -> str | None:
        """Its status, the row locked until the transaction ends."""
        ...

    async def requeue(self, conn: Connection, notification_id: str, now: datetime) -> Delivery:
        """Back to pending, due `now`, with a fresh set of attempts."""
        ...


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """An email claimed for sending."""

    id: str
    kind: str
    organisation_id: str
    recipient: str
    recipient_name: str | None
    context: dict[str, Any]
    caused_by: str | None
    caused_by_type: str | None
    attempts: int

    @property
    def stream_id(self) -> str:
        return f"notification-{self.id}"


@dataclass(frozen=True)
class Failure:
    """A failed attempt, as recorded: for good (`failed`) or until `next_attempt_at`."""

    id: str
    reason: str
    code: int | None
    subject: str | None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class OutcomeEvent:
    """An outcome event for a notification's stream, caused by what caused the email."""

    stream_id: str
    payload: NotificationSent | NotificationFailed
    context: AppendContext


class QueueUnavailable(Exception):
    """The notifications' database could not be reached (try again later)."""


class Queue(Protocol):
    """The emails waiting to be sent, claimed a batch at a time."""

    def claim(
        self, now: datetime, limit: int
    ) -> AbstractAsyncContextManager[tuple[Connection, list[Due]]]:
        """A transaction holding up to `limit` due emails, locked from other senders (who skip
        them), oldest due first. Database errors inside it surface as `QueueUnavailable`."""
        ...

    async def mark_sent(
        self, conn: Connection, sent: Sequence[tuple[str, str | None]], now: datetime
    ) -> None:
        """(id, subject) of each email the server accepted."""
        ...

    async def mark_failed(self, conn: Connection, failed: Sequence[Failure]) -> None: ...

    async def mark_deferred(self, conn: Connection, deferred: Sequence[Failure]) -> None: ...

    async def note_untried(self, conn: Connection, ids: Sequence[str], reason: str) -> None:
        """Say why these wait (their attempts untouched)."""
        ...

    async def append_outcomes(self, conn: Connection, events: Sequence[OutcomeEvent]) -> list[bool]:
        """Each event at its stream's current version; whether each was written."""
        ...


@dataclass(frozen=True)
class Backlog:
    """The emails not yet sent nor failed for good (due now or waiting to be retried)."""

    queued: int
    #: Since the oldest of them was recorded (0 when none).
    oldest_age_seconds: float


class QueueBacklog(Protocol):
    """How far behind the sender is, read at each metrics scrape (one cheap query)."""

    async def backlog(self, now: datetime) -> Backlog: ...


class SendingMetrics(Protocol):
    """What the sender counts of the outcomes it recorded (after they were committed)."""

    def sent(self, kind: str, count: int) -> None:
        """Emails of `kind` the server accepted."""
        ...

    def failed(self, kind: str, count: int) -> None:
        """Attempts at emails of `kind` that failed, to be retried or for good."""
        ...


class MailFailure(Exception):
    """An email the server did not accept: for good (`permanent`) or for now."""

    def __init__(self, reason: str, *, code: int | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.permanent = permanent


class MailUnavailable(MailFailure):
    """The server could not be reached or would not open a session: no email was handed over."""


class MailConnection(Protocol):
    """One session with the mail server; one coroutine sends over it at a time."""

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Hand one message to the server for one recipient; `MailFailure` (or
        `MailUnavailable`) unless the server accepted it."""
        ...

    async def close(self) -> None: ...
