"""Events whose text holds U+0000 (stored before the edge refused it) through the notification
service's real consumers, on real PostgreSQL: each is handled, with NUL shown as U+FFFD, and
the email goes out; none is dead-lettered (a delegate once never got their invitation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import asyncpg
import pytest

from csm_contracts.cloudevents import encode
from csm_contracts.events.accounts import AccountCreated, MappingLeadNominated
from csm_contracts.events.questionnaire import QuestionnaireDelegated
from csm_contracts.events.registration import OrganisationRegistered
from csm_contracts.events.responses import QuestionnaireIssued, SubjectKind
from csm_contracts.registry import EventPayload
from csm_kernel.consumer import EventConsumer, Handler, IncomingMessage, Outcome
from csm_kernel.database import migrate
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from notification.application.links import complete_context
from notification.application.templates import render
from notification.bootstrap import consumer_tables
from notification.entrypoints.consumers import questionnaire_handlers, registration_handlers

TOKENS = LinkTokens(b"k" * 32)
SETTINGS = ServiceSettings(portal_url="https://csm.example")


class Kept:
    """Dead letters, kept in a list."""

    def __init__(self) -> None:
        self.letters: list[dict[str, str]] = []

    async def send(self, topic: str, key: Any, value: Any, headers: dict[str, str]) -> None:
        self.letters.append(headers)


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, "notification", resources.files("notification.adapters").joinpath("sql"))
    return pg_pool


async def consume(pool: asyncpg.Pool, handlers: dict[str, Handler], event: EventPayload) -> Outcome:
    """One event through an EventConsumer with `handlers`, as Kafka would hand it over."""
    store = InMemoryEventStore()
    [envelope] = await store.append(
        f"s-{event.EVENT_TYPE}", 0, [NewEvent.from_payload(event)], AppendContext(actor="t")
    )
    key, value, headers = encode(envelope)
    dead = Kept()
    consumer = EventConsumer("test", pool, handlers, dead, "dlq", max_attempts=1, backoff=0)
    outcome = await consumer.process(IncomingMessage("t", 0, 0, key, value, headers))
    assert not dead.letters, dead.letters
    return outcome


async def test_events_holding_nul_are_emails_not_dead_letters(pool) -> None:
    tables = consumer_tables()
    registration, questionnaire = registration_handlers(tables), questionnaire_handlers(tables)
    org = OrganisationRegistered(
        organisation_id="5A4", code="5A4", name="Any\x00town PCT", kind="pct", region="london"
    )
    assert await consume(pool, registration, org) is Outcome.HANDLED
    lead = MappingLeadNominated(
        organisation_id="5A4",
        account_id="a1",
        email="ann@pct.nhs.uk",
        name="Ann\x00Lead",
        nominated_by="user:admin",
    )
    assert await consume(pool, registration, lead) is Outcome.HANDLED
    account = AccountCreated(
        organisation_id="5A4",
        account_id="a1",
        email="ann@pct.nhs.uk",
        name="Ann\x00Lead",
        roles=["mapping-lead"],
        created_by="user:admin",
        setup_id="s1",
        setup_expires_at=datetime(2009, 11, 13, tzinfo=UTC),
    )
    assert await consume(pool, registration, account) is Outcome.HANDLED
    base = {"organisation_id": "5A4", "cycle": "2009-10", "questionnaire_id": "q1"}
    issued = QuestionnaireIssued(
        **base,
        definition="service@1",
        title="Service: Health\x00visiting",
        subject_kind=SubjectKind.SERVICE,
        subject_id="s1",
    )
    assert await consume(pool, questionnaire, issued) is Outcome.HANDLED
    delegated = QuestionnaireDelegated(
        **base,
        delegation_id="d1",
        delegate_email="mgr@trust.nhs.uk",
        delegated_by="user:a1",
        expires_at=datetime(2010, 2, 28, tzinfo=UTC) + timedelta(hours=23),
        message="Over\x00to you",
    )
    assert await consume(pool, questionnaire, delegated) is Outcome.HANDLED

    rows = {
        r["kind"]: {**dict(r), "context": json.loads(r["context"])}
        for r in await pool.fetch("SELECT * FROM notifications")
    }
    assert set(rows) == {"account-set-up", "delegation-invitation"}
    invitation = rows["delegation-invitation"]
    assert invitation["recipient"] == "mgr@trust.nhs.uk"
    assert invitation["context"]["message"] == "Over\ufffdto you"
    mail = render(
        "delegation-invitation",
        complete_context("delegation-invitation", invitation["context"], SETTINGS, TOKENS),
    )
    assert "Over\ufffdto you" in mail.text and "Any\ufffdtown PCT" in mail.text
    assert rows["account-set-up"]["context"]["name"] == "Ann\ufffdLead"
    name = await pool.fetchval("SELECT name FROM organisations WHERE code = '5A4'")
    assert name == "Any\ufffdtown PCT"


class _NulReplies:
    """An SMTP connection whose server refuses every email with a reply holding NUL."""

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        from notification.adapters.smtp import SmtpFailure

        raise SmtpFailure("550 no\x00such mailbox", code=550, permanent=True)

    async def close(self) -> None:
        pass


async def test_an_smtp_reply_holding_nul_is_recorded_not_a_rolled_back_batch(mailer) -> None:
    # The reply goes into text columns in the transaction that claimed the batch: with NUL in
    # it the batch rolled back, and emails the server had accepted were sent again, for ever.
    intent = mailer.reopened("ann@pct.nhs.uk")
    await mailer.record([intent])
    sender = mailer.sender()
    sender.connections = [_NulReplies()]
    batch = await sender.send_batch()
    assert (batch.claimed, batch.failed) == (1, 1)
    row = (await mailer.rows([intent.id]))[intent.id]
    assert row["status"] == "failed" and row["last_error"] == "550 no\ufffdsuch mailbox"
