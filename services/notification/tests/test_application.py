"""The use cases against in-memory fakes of their ports (no database, no server): what they
ask the ports for and record, in which transaction, and what they refuse."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from csm_contracts.events.accounts import MappingLeadNominated
from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.notifications import NotificationFailed, NotificationSent
from csm_contracts.events.questionnaire import CycleSignedOff, QuestionnaireDelegated
from csm_contracts.events.registration import OrganisationRegistered
from csm_contracts.events.responses import QuestionnaireReturned
from csm_kernel.clock import FixedClock
from csm_kernel.consumer import NotYetKnown, RejectedMessage
from csm_kernel.errors import Conflict, InvalidInput, NotFound
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings
from notification.application.bulletins import BulletinFilter, Bulletins
from notification.application.deliveries import Deliveries
from notification.application.handlers import EmailHandlers
from notification.application.ports import (
    BulletinDelivery,
    BulletinRecord,
    Delivery,
    DeliveryFilter,
    Due,
    Failure,
    KindCount,
    MailFailure,
    MailUnavailable,
    NextDue,
    OffsetCount,
    OutcomeEvent,
    Schedule,
)
from notification.application.reminders import Reminders
from notification.application.sender import Sender
from notification.domain.bulletins import Recipient
from notification.domain.emails import Lead
from notification.domain.notification import Intent, Kind
from notification.domain.reminders import DueReminder

AT = datetime(2009, 11, 10, 9, 30, tzinfo=UTC)
CLOSE = datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC)

#: The opaque connection the fakes hand out: the use cases only pass it on.
CONN: Any = object()


class FakeIntents:
    def __init__(self) -> None:
        self.rows: dict[str, Intent] = {}
        self.conns: list[Any] = []

    async def record(self, conn: Any, intents: Sequence[Intent], now: datetime) -> int:
        self.conns.append(conn)
        new = [i for i in intents if i.dedupe_key not in self.rows]
        for i in new:
            self.rows[i.dedupe_key] = i
        return len({i.dedupe_key for i in new})


@dataclass
class FakeDirectory:
    organisations: dict[str, str] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    async def upsert_organisation(
        self, conn: Any, code: str, name: str, kind: str, region: str
    ) -> None:
        self.organisations[code] = name

    async def rename_organisation(self, conn: Any, code: str, name: str) -> None:
        self.organisations[code] = name

    async def organisation_name(self, conn: Any, code: str) -> str | None:
        return self.organisations.get(code)

    async def lead(self, conn: Any, organisation_id: str) -> Lead | None:
        return self.leads.get(organisation_id)

    async def set_lead(self, conn: Any, lead: Lead) -> None:
        self.leads[lead.organisation_id] = lead

    async def add_questionnaire(
        self, conn: Any, questionnaire_id: str, organisation_id: str, cycle: str, title: str
    ) -> None:
        self.titles.setdefault(questionnaire_id, title)

    async def questionnaire_title(self, conn: Any, questionnaire_id: str) -> str | None:
        return self.titles.get(questionnaire_id)


def envelope(event: Any) -> Any:
    return SimpleNamespace(event_id=uuid.uuid4(), occurred_at=AT, type=event.EVENT_TYPE)


async def deliver(table: Any, event: Any) -> None:
    await table.handlers()[event.EVENT_TYPE](CONN, envelope(event), event)


# --- consumers -----------------------------------------------------------------------------


async def test_a_replacing_nomination_keeps_the_new_lead_and_tells_the_old_one() -> None:
    directory, intents = FakeDirectory(), FakeIntents()
    handlers = EmailHandlers(directory, intents)
    registration = handlers.registration()
    await deliver(
        registration,
        OrganisationRegistered(
            organisation_id="5A4", code="5A4", name="Anytown PCT", kind="pct", region="london"
        ),
    )
    nominate = {"organisation_id": "5A4", "nominated_by": "user:admin"}
    await deliver(
        registration,
        MappingLeadNominated(**nominate, account_id="a1", email="ann@x.org", name="Ann"),
    )
    assert not intents.rows  # a first lead replaces nobody
    await deliver(
        registration,
        MappingLeadNominated(
            **nominate, account_id="a2", email="bob@x.org", name="Bob", replaces_account_id="a1"
        ),
    )
    assert directory.leads["5A4"].email == "bob@x.org"
    [told] = intents.rows.values()
    assert (told.kind, told.recipient) == (Kind.LEAD_REPLACED, "ann@x.org")
    assert told.context["organisation_name"] == "Anytown PCT"
    assert intents.conns == [CONN]  # in the consumer's transaction


async def test_a_delegation_names_what_this_service_knows_or_says_so() -> None:
    intents = FakeIntents()
    questionnaire = EmailHandlers(FakeDirectory(), intents).questionnaire()
    event = QuestionnaireDelegated(
        organisation_id="5ZZ",
        cycle="2009-10",
        questionnaire_id="q1",
        delegation_id="d1",
        delegate_email="mgr@trust.nhs.uk",
        delegated_by="user:a1",
        expires_at=CLOSE,
    )
    await deliver(questionnaire, event)
    [intent] = intents.rows.values()
    # Neither the organisation nor the questionnaire seen here: its code, a general title.
    assert intent.context["organisation_name"] == "5ZZ"
    assert intent.context["title"] == "a Children's Services Mapping questionnaire"


async def test_no_lead_known_is_a_refusal_recording_nothing() -> None:
    intents = FakeIntents()
    questionnaire = EmailHandlers(FakeDirectory(), intents).questionnaire()
    event = ReturnReopened(organisation_id="5A4", cycle="2009-10", reason="r", reopened_by="u")
    with pytest.raises(RejectedMessage, match="no mapping lead is known for 5A4"):
        await deliver(questionnaire, event)
    assert not intents.rows


async def test_a_sign_off_before_its_lead_is_known_here_waits_for_the_lead() -> None:
    # The lead signed it off, so the lead exists: registration's news is only behind.
    intents = FakeIntents()
    questionnaire = EmailHandlers(FakeDirectory(), intents).questionnaire()
    event = CycleSignedOff(
        organisation_id="5A4",
        cycle="2009-10",
        signed_off_at=datetime(2009, 11, 10, 9, 30, tzinfo=UTC),
        signed_off_by="user:1",
        questionnaires_submitted=3,
    )
    with pytest.raises(NotYetKnown, match="no mapping lead is known for 5A4"):
        await deliver(questionnaire, event)
    assert not intents.rows


# --- reminders -----------------------------------------------------------------------------


class FakeReminderStore:
    def __init__(self, due: list[DueReminder]) -> None:
        self._due = due
        self.marked: list[tuple[DueReminder, Intent]] = []
        self.schedules: dict[str, Schedule] = {}
        self.runs = 0

    @asynccontextmanager
    async def reminder_run(self) -> AsyncIterator[Any]:
        self.runs += 1
        yield CONN

    async def due(self, conn: Any, now: datetime) -> list[DueReminder]:
        done = {(d.organisation_id, d.days_before, d.closes_at) for d, _ in self.marked}
        return [d for d in self._due if (d.organisation_id, d.days_before, d.closes_at) not in done]

    async def mark_recorded(
        self, conn: Any, recorded: Sequence[tuple[DueReminder, Intent]], now: datetime
    ) -> None:
        self.marked.extend(recorded)

    async def set_schedule(
        self, cycle: str, days_before: Sequence[int], actor: str, at: datetime
    ) -> None:
        self.schedules[cycle] = Schedule(cycle, list(days_before), CLOSE, None, actor, at)

    async def schedule(self, cycle: str) -> Schedule | None:
        return self.schedules.get(cycle)

    async def recorded(self, cycle: str) -> list[OffsetCount]:
        return [OffsetCount(28, 2, 1, 1)]

    async def next_due(self, cycle: str, now: datetime) -> list[NextDue]:
        return [NextDue("5A4", "Anytown PCT", 14, CLOSE - timedelta(days=14), CLOSE, 1)]


def due(org: str, days_before: int = 28) -> DueReminder:
    return DueReminder(
        "2009-10", org, f"{org} PCT", f"lead@{org}.org", "Lead", CLOSE, False, days_before
    )


async def test_a_reminder_run_records_each_due_reminder_once() -> None:
    store, intents = FakeReminderStore([due("5A4"), due("5NT")]), FakeIntents()
    reminders = Reminders(store, intents, FixedClock(CLOSE - timedelta(days=27)), "https://p/")
    assert await reminders.run_due() == 2
    assert await reminders.run_due() == 0
    assert [i.recipient for _, i in store.marked] == ["lead@5A4.org", "lead@5NT.org"]
    assert {i.context["link"] for i in intents.rows.values()} == {"https://p/returns/2009-10"}


async def test_the_schedule_and_its_status() -> None:
    store = FakeReminderStore([])
    reminders = Reminders(store, FakeIntents(), FixedClock(AT))
    with pytest.raises(NotFound):
        await reminders.status("2009-10")
    with pytest.raises(InvalidInput):
        await reminders.set_schedule("2009-10", [7, 7], "user:admin")
    await reminders.set_schedule("2009-10", [7, 14], "user:admin")
    status = await reminders.status("2009-10")
    assert status["days_before"] == [14, 7] and not status["default_schedule"]
    # An offset recorded under an earlier schedule is still shown.
    assert [(r["days_before"], r["in_schedule"]) for r in status["recorded"]] == [
        (28, False),
        (14, True),
        (7, True),
    ]
    assert status["next"]["count"] == 1 and status["next"]["days_before"] == [14]


# --- bulletins -----------------------------------------------------------------------------


class FakeBulletinStore:
    def __init__(self, leads: list[Recipient], organisations: list[str]) -> None:
        self.leads = leads
        self.organisations = organisations
        self.added: list[BulletinRecord] = []
        #: cycle -> organisations signed off in it
        self.signed_off: dict[str, set[str]] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield CONN

    async def known_organisations(self, conn: Any, codes: Sequence[str]) -> list[str]:
        return [c for c in codes if c in self.organisations]

    async def recipients(
        self,
        conn: Any,
        regions: Sequence[str],
        kinds: Sequence[str],
        organisation_ids: Sequence[str],
        not_signed_off_in: str | None = None,
    ) -> list[Recipient]:
        signed_off = self.signed_off.get(not_signed_off_in or "", set())
        return [
            r
            for r in self.leads
            if (not organisation_ids or r.organisation_id in organisation_ids)
            and r.organisation_id not in signed_off
        ]

    async def add(self, conn: Any, bulletin: BulletinRecord) -> None:
        self.added.append(bulletin)

    async def mark_sent(
        self, conn: Any, bulletin_id: str, recipients: int, at: datetime, by: str
    ) -> None:
        self.added = [
            dataclasses.replace(b, status="sent", recipients=recipients, sent_at=at, sent_by=by)
            if b.id == bulletin_id
            else b
            for b in self.added
        ]

    async def latest(self, limit: int) -> list[BulletinDelivery]:
        return [BulletinDelivery(b, 1, 0, 0) for b in reversed(self.added)][:limit]


async def test_publishing_records_one_email_per_address_with_the_bulletin() -> None:
    leads = [
        Recipient("5A4", "ann@x.org", "Ann", "Anytown PCT"),
        Recipient("5NT", "ann@x.org", "Ann", "Manchester PCT"),
        Recipient("5LA", "cat@x.org", "Cat", "Camden PCT"),
    ]
    store, intents = FakeBulletinStore(leads, ["5A4", "5NT", "5LA"]), FakeIntents()
    bulletins = Bulletins(store, intents, FixedClock(AT))
    published = await bulletins.publish("News", "Body", None, "user:admin")
    assert published["recipients"] == 2 and store.added[0].recipients == 2
    assert published["created_at"] == AT.isoformat()
    [listed] = await bulletins.list()
    assert listed["delivery"] == {"pending": 1, "sent": 0, "failed": 0}

    with pytest.raises(InvalidInput) as refused:
        await bulletins.publish("News", "Body", BulletinFilter(organisation_ids=["9X"]), "u")
    assert refused.value.details[0]["field"] == "filter.organisation_ids"
    assert len(store.added) == 1


# --- the delivery log ----------------------------------------------------------------------


def delivery(status: str, n: int = 0) -> Delivery:
    return Delivery(
        id=f"n{n}",
        kind=Kind.BULLETIN,
        organisation_id="5A4",
        recipient="ann@x.org",
        recipient_name=None,
        status=status,
        attempts=8,
        next_attempt_at=AT,
        last_error="550",
        smtp_code=550,
        subject="News",
        created_at=AT - timedelta(minutes=n),
        sent_at=None,
        caused_by="bulletin/b1",
        caused_by_type="bulletin",
    )


class FakeDeliveryLog:
    def __init__(self, rows: list[Delivery]) -> None:
        self.rows = {r.id: r for r in rows}

    async def page(
        self,
        where: DeliveryFilter,
        before: tuple[datetime, str] | None,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
    ) -> list[Delivery]:
        rows = sorted(self.rows.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        if after is not None:
            return [r for r in rows if (r.created_at, r.id) > after][-limit:]
        if before is not None:
            rows = [r for r in rows if (r.created_at, r.id) < before]
        return rows[:limit]

    async def counts(self, organisation_id: str | None, since: datetime | None) -> list[KindCount]:
        return [KindCount(Kind.BULLETIN, "failed", 2)]

    async def failed(
        self, organisation_id: str | None, since: datetime | None, limit: int
    ) -> list[Delivery]:
        return [r for r in self.rows.values() if r.status == "failed"][:limit]

    async def retrying(self, organisation_id: str | None, since: datetime | None) -> int:
        return 0

    async def get(self, notification_id: str) -> Delivery | None:
        return self.rows.get(notification_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield CONN

    async def status_for_update(self, conn: Any, notification_id: str) -> str | None:
        row = self.rows.get(notification_id)
        return row.status if row else None

    async def requeue(self, conn: Any, notification_id: str, now: datetime) -> Delivery:
        row = replace(self.rows[notification_id], status="pending", attempts=0, next_attempt_at=now)
        self.rows[notification_id] = row
        return row


async def test_the_log_pages_by_cursor_and_shows_a_wait_only_while_pending() -> None:
    log = FakeDeliveryLog([delivery("failed", n) for n in range(3)])
    deliveries = Deliveries(log, FixedClock(AT), lambda: None)
    first = await deliveries.page(DeliveryFilter(), None, 2)
    assert [i["id"] for i in first["items"]] == ["n0", "n1"]
    assert first["items"][0]["next_attempt_at"] is None
    second = await deliveries.page(DeliveryFilter(), first["next"], 2)
    assert [i["id"] for i in second["items"]] == ["n2"] and second["next"] is None
    assert first["previous"] is None and second["previous"] is not None
    back = await deliveries.page(DeliveryFilter(), None, 2, after=second["previous"])
    assert [i["id"] for i in back["items"]] == ["n0", "n1"]
    assert back["previous"] is None and back["next"] == first["next"]
    with pytest.raises(InvalidInput):
        await deliveries.page(DeliveryFilter(), first["next"], 2, after=first["next"])
    with pytest.raises(InvalidInput):
        await deliveries.page(DeliveryFilter(), "not-a-cursor", 2)
    summary = await deliveries.summary(None, None, 10)
    assert summary["totals"] == {"pending": 0, "sent": 0, "failed": 2}
    assert summary["by_kind"] == {"bulletin": {"pending": 0, "sent": 0, "failed": 2}}


async def test_only_a_failed_email_is_retried_and_the_sender_woken() -> None:
    woken: list[bool] = []
    log = FakeDeliveryLog([delivery("failed", 0), delivery("sent", 1)])
    deliveries = Deliveries(log, FixedClock(AT), lambda: woken.append(True))
    retried = await deliveries.retry("n0", "user:admin")
    assert (retried["status"], retried["attempts"], retried["next_attempt_at"]) == (
        "pending",
        0,
        AT,
    )
    assert woken == [True]
    with pytest.raises(Conflict):
        await deliveries.retry("n1", "user:admin")
    with pytest.raises(NotFound):
        await deliveries.retry("n9", "user:admin")
    assert woken == [True]


# --- the sender ----------------------------------------------------------------------------


class FakeQueue:
    def __init__(self, due: list[Due]) -> None:
        self.due = due
        self.sent: list[tuple[str, str | None]] = []
        self.failed: list[Failure] = []
        self.deferred: list[Failure] = []
        self.untried: list[str] = []
        self.events: list[OutcomeEvent] = []

    @asynccontextmanager
    async def claim(self, now: datetime, limit: int) -> AsyncIterator[tuple[Any, list[Due]]]:
        claimed, self.due = self.due[:limit], self.due[limit:]
        yield CONN, claimed

    async def mark_sent(
        self, conn: Any, sent: Sequence[tuple[str, str | None]], now: datetime
    ) -> None:
        self.sent.extend(sent)

    async def mark_failed(self, conn: Any, failed: Sequence[Failure]) -> None:
        self.failed.extend(failed)

    async def mark_deferred(self, conn: Any, deferred: Sequence[Failure]) -> None:
        self.deferred.extend(deferred)

    async def note_untried(self, conn: Any, ids: Sequence[str], reason: str) -> None:
        self.untried.extend(ids)

    async def append_outcomes(self, conn: Any, events: Sequence[OutcomeEvent]) -> list[bool]:
        self.events.extend(events)
        return [True for _ in events]


class FakeServer:
    """A mail server that refuses some addresses for good, some for now, or is away."""

    def __init__(self, refuse: dict[str, MailFailure] | None = None) -> None:
        self.refuse = refuse or {}
        self.accepted: list[str] = []

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        if recipient in self.refuse:
            raise self.refuse[recipient]
        self.accepted.append(recipient)

    async def close(self) -> None:
        pass


def claimed(recipient: str, attempts: int = 0, kind: str = Kind.RETURN_REOPENED) -> Due:
    return Due(
        id=f"id-{recipient}",
        kind=kind,
        organisation_id="5A4",
        recipient=recipient,
        recipient_name="Ann",
        context={"organisation_name": "Anytown PCT", "cycle": "2009-10", "reason": "r"},
        caused_by="cause-1",
        caused_by_type="questionnaire.ReturnReopened",
        attempts=attempts,
    )


def sender(queue: FakeQueue, server: FakeServer, **options: Any) -> Sender:
    settings = ServiceSettings(mail_from="CSM <csm@csm.example>", portal_url="https://p")
    return Sender(queue, [server], settings, FixedClock(AT), LinkTokens(b"k" * 32), **options)


async def test_each_outcome_is_recorded_with_its_event() -> None:
    queue = FakeQueue(
        [
            claimed("ok@x.org"),
            claimed("gone@x.org"),
            claimed("busy@x.org"),
            claimed("tired@x.org", attempts=2),
            # A template its context cannot fill: refused for good, never handed over.
            claimed("odd@x.org", kind=Kind.BULLETIN),
        ]
    )
    server = FakeServer(
        {
            "gone@x.org": MailFailure("550 no such mailbox", code=550, permanent=True),
            "busy@x.org": MailFailure("451 try later", code=451),
            "tired@x.org": MailFailure("451 try later", code=451),
        }
    )
    batch = await sender(queue, server, max_attempts=3).send_batch()
    assert (batch.claimed, batch.sent, batch.failed, batch.deferred) == (5, 1, 3, 1)
    assert server.accepted == ["ok@x.org"]
    [(sent_id, subject)] = queue.sent
    assert sent_id == "id-ok@x.org" and subject
    assert {f.id for f in queue.failed} == {"id-gone@x.org", "id-tired@x.org", "id-odd@x.org"}
    [deferred] = queue.deferred
    assert deferred.id == "id-busy@x.org" and deferred.next_attempt_at == AT + timedelta(seconds=5)
    kinds = [type(e.payload) for e in queue.events]
    assert kinds == [NotificationSent, NotificationFailed, NotificationFailed, NotificationFailed]
    assert {e.context.causation_id for e in queue.events} == {"cause-1"}
    assert queue.events[0].stream_id == "notification-id-ok@x.org"


async def test_a_server_away_spends_no_attempt_and_says_why_they_wait() -> None:
    queue = FakeQueue([claimed("a@x.org"), claimed("b@x.org")])
    server = FakeServer({"a@x.org": MailUnavailable("connection refused")})
    batch = await sender(queue, server).send_batch()
    assert batch.unavailable == "connection refused" and batch.sent == 0
    assert queue.untried == ["id-a@x.org", "id-b@x.org"]
    assert not queue.events and not queue.deferred and not queue.failed


async def test_a_return_before_its_lead_is_known_here_waits_for_the_lead() -> None:
    # A delegate returns what a lead delegated, so the lead exists (the rehearsal met this after
    # a broker restart, with registration's topic behind the questionnaire service's).
    intents = FakeIntents()
    questionnaire = EmailHandlers(FakeDirectory(), intents).questionnaire()
    event = QuestionnaireReturned(
        organisation_id="5A4",
        cycle="2009-10",
        questionnaire_id="q1",
        delegation_id="d1",
        delegate_email="mgr@trust.nhs.uk",
        comment="Done",
    )
    with pytest.raises(NotYetKnown, match="no mapping lead is known for 5A4"):
        await deliver(questionnaire, event)
    assert not intents.rows
