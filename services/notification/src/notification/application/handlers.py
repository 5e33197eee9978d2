"""From events to emails: each handler runs in the consumer's transaction (the one that records
the message as processed) and records what to send; the sender sends it. So a redelivered or
replayed event finds its message processed, and an intent recorded twice is kept once.

Registration's events keep the copy of who leads which organisation; the questionnaire
service's events cause the emails about delegation and sign-off. An email whose recipient
cannot be known (no mapping lead for the organisation) is refused with `RejectedMessage`: the
event goes to the dead-letter topic with that reason, to be replayed once the lead is known.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.accounts import AccountCreated, MappingLeadNominated
from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.questionnaire import CycleSignedOff, QuestionnaireDelegated
from csm_contracts.events.registration import OrganisationRegistered, OrganisationRenamed
from csm_contracts.events.responses import (
    DelegationRevoked,
    QuestionnaireIssued,
    QuestionnaireReturned,
    QuestionnaireSentBack,
)
from csm_kernel.consumer import RejectedMessage
from csm_kernel.database import Connection

from ..domain.notification import Intent, Kind
from .intents import record

Handler = Any


def human(at: datetime) -> str:
    """A time as people read it in an email: `28 February 2010, 23:59`."""
    return f"{at.day} {at:%B %Y, %H:%M}"


async def _organisation_name(conn: Connection, code: str) -> str:
    name = await conn.fetchval("SELECT name FROM organisations WHERE code = $1", code)
    return str(name) if name else code


async def _lead(conn: Connection, organisation_id: str, what: str) -> Any:
    lead = await conn.fetchrow("SELECT * FROM leads WHERE organisation_id = $1", organisation_id)
    if lead is None:
        raise RejectedMessage(
            f"no mapping lead is known for {organisation_id}: nobody to tell {what}"
        )
    return lead


async def _title(conn: Connection, questionnaire_id: str) -> str:
    title = await conn.fetchval(
        "SELECT title FROM questionnaires WHERE questionnaire_id = $1", questionnaire_id
    )
    return str(title) if title else "a Children's Services Mapping questionnaire"


async def _send(conn: Connection, envelope: EventEnvelope, intent: Intent) -> None:
    await record(conn, [intent], envelope.occurred_at)


def _cause(envelope: EventEnvelope) -> str:
    return str(envelope.event_id)


# --- registration ------------------------------------------------------------------------


async def organisation_registered(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, OrganisationRegistered)
    await conn.execute(
        "INSERT INTO organisations (code, name, kind, region) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
        "region = EXCLUDED.region",
        event.code, event.name, event.kind.value, event.region.value,
    )  # fmt: skip


async def organisation_renamed(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, OrganisationRenamed)
    await conn.execute(
        "UPDATE organisations SET name = $2 WHERE code = $1", event.organisation_id, event.new_name
    )


async def account_created(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    """A new account's set-up link (its token is made when the email is written)."""
    assert isinstance(event, AccountCreated)
    if event.setup_id is None or event.setup_expires_at is None:
        return  # an account from before set-up links were emailed from here
    hours = max(1, round((event.setup_expires_at - envelope.occurred_at).total_seconds() / 3600))
    organisation = None
    if "mapping-lead" in event.roles and event.organisation_id != "NATIONAL":
        organisation = await _organisation_name(conn, event.organisation_id)
    await _send(conn, envelope, Intent(
        kind=Kind.ACCOUNT_SET_UP, organisation_id=event.organisation_id,
        recipient=str(event.email), recipient_name=event.name, cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": event.name, "setup_id": event.setup_id, "valid_hours": hours,
                 "organisation_name": organisation},
    ))  # fmt: skip


async def lead_nominated(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    """Remember the new lead; tell the lead it replaces."""
    assert isinstance(event, MappingLeadNominated)
    previous = await conn.fetchrow(
        "SELECT * FROM leads WHERE organisation_id = $1", event.organisation_id
    )
    await conn.execute(
        "INSERT INTO leads (organisation_id, account_id, email, name) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (organisation_id) DO UPDATE SET account_id = EXCLUDED.account_id, "
        "email = EXCLUDED.email, name = EXCLUDED.name",
        event.organisation_id, event.account_id, str(event.email), event.name,
    )  # fmt: skip
    if previous is not None and previous["account_id"] == event.replaces_account_id:
        await _send(conn, envelope, Intent(
            kind=Kind.LEAD_REPLACED, organisation_id=event.organisation_id,
            recipient=previous["email"], recipient_name=previous["name"], cause=_cause(envelope),
            caused_by_type=envelope.type,
            context={"name": previous["name"], "new_lead_name": event.name,
                     "organisation_name": await _organisation_name(conn, event.organisation_id)},
        ))  # fmt: skip


REGISTRATION: dict[str, Handler] = {
    OrganisationRegistered.EVENT_TYPE: organisation_registered,
    OrganisationRenamed.EVENT_TYPE: organisation_renamed,
    AccountCreated.EVENT_TYPE: account_created,
    MappingLeadNominated.EVENT_TYPE: lead_nominated,
}


# --- questionnaire -----------------------------------------------------------------------


async def questionnaire_issued(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, QuestionnaireIssued)
    await conn.execute(
        "INSERT INTO questionnaires (questionnaire_id, organisation_id, cycle, title) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (questionnaire_id) DO NOTHING",
        event.questionnaire_id, event.organisation_id, event.cycle, event.title,
    )  # fmt: skip


async def delegated(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, QuestionnaireDelegated)
    title = event.title or await _title(conn, event.questionnaire_id)
    await _send(conn, envelope, Intent(
        kind=Kind.DELEGATION_INVITATION, organisation_id=event.organisation_id,
        recipient=str(event.delegate_email), cause=_cause(envelope), caused_by_type=envelope.type,
        context={"title": title, "message": event.message, "cycle": event.cycle,
                 "expires_at": human(event.expires_at),
                 "organisation_name": await _organisation_name(conn, event.organisation_id),
                 "questionnaire_id": event.questionnaire_id,
                 "delegation_id": event.delegation_id},
    ))  # fmt: skip


async def delegation_revoked(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, DelegationRevoked)
    await _send(conn, envelope, Intent(
        kind=Kind.DELEGATION_REVOKED, organisation_id=event.organisation_id,
        recipient=event.delegate_email, cause=_cause(envelope), caused_by_type=envelope.type,
        context={"title": await _title(conn, event.questionnaire_id), "reason": event.reason,
                 "organisation_name": await _organisation_name(conn, event.organisation_id)},
    ))  # fmt: skip


async def returned(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, QuestionnaireReturned)
    lead = await _lead(conn, event.organisation_id, "that a questionnaire was returned")
    await _send(conn, envelope, Intent(
        kind=Kind.QUESTIONNAIRE_RETURNED, organisation_id=event.organisation_id,
        recipient=lead["email"], recipient_name=lead["name"], cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": lead["name"], "title": await _title(conn, event.questionnaire_id),
                 "cycle": event.cycle, "delegate_email": event.delegate_email,
                 "comment": event.comment, "questionnaire_id": event.questionnaire_id},
    ))  # fmt: skip


async def sent_back(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, QuestionnaireSentBack)
    await _send(conn, envelope, Intent(
        kind=Kind.QUESTIONNAIRE_SENT_BACK, organisation_id=event.organisation_id,
        recipient=event.delegate_email, cause=_cause(envelope), caused_by_type=envelope.type,
        context={"title": await _title(conn, event.questionnaire_id), "comment": event.comment,
                 "organisation_name": await _organisation_name(conn, event.organisation_id),
                 "questionnaire_id": event.questionnaire_id,
                 "delegation_id": event.delegation_id},
    ))  # fmt: skip


async def signed_off(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, CycleSignedOff)
    lead = await _lead(conn, event.organisation_id, "that its return was signed off")
    await _send(conn, envelope, Intent(
        kind=Kind.SIGN_OFF_CONFIRMATION, organisation_id=event.organisation_id,
        recipient=lead["email"], recipient_name=lead["name"], cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": lead["name"],
                 "organisation_name": event.organisation_name
                 or await _organisation_name(conn, event.organisation_id),
                 "cycle": event.cycle, "signed_off_at": human(event.signed_off_at),
                 "questionnaires_submitted": event.questionnaires_submitted,
                 "answers_count": event.answers_count if event.answers_count is not None else "-",
                 "ni51": [{"area": s.area, "score": s.score} for s in event.ni51],
                 "supersedes": human(event.supersedes) if event.supersedes else None},
    ))  # fmt: skip


async def reopened(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, ReturnReopened)
    lead = await _lead(conn, event.organisation_id, "that its return was reopened")
    await _send(conn, envelope, Intent(
        kind=Kind.RETURN_REOPENED, organisation_id=event.organisation_id,
        recipient=lead["email"], recipient_name=lead["name"], cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": lead["name"], "cycle": event.cycle, "reason": event.reason,
                 "organisation_name": await _organisation_name(conn, event.organisation_id)},
    ))  # fmt: skip


QUESTIONNAIRE: dict[str, Handler] = {
    QuestionnaireIssued.EVENT_TYPE: questionnaire_issued,
    QuestionnaireDelegated.EVENT_TYPE: delegated,
    DelegationRevoked.EVENT_TYPE: delegation_revoked,
    QuestionnaireReturned.EVENT_TYPE: returned,
    QuestionnaireSentBack.EVENT_TYPE: sent_back,
    CycleSignedOff.EVENT_TYPE: signed_off,
    ReturnReopened.EVENT_TYPE: reopened,
}


def combined(*tables: dict[str, Handler]) -> dict[str, Handler]:
    """One handler table from several: where two handle a type, both run, in order, in the
    same transaction."""
    out: dict[str, list[Handler]] = {}
    for table in tables:
        for event_type, handler in table.items():
            out.setdefault(event_type, []).append(handler)

    def chain(handlers: list[Handler]) -> Handler:
        if len(handlers) == 1:
            return handlers[0]

        async def run_all(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
            for handler in handlers:
                await handler(conn, envelope, event)

        return run_all

    return {event_type: chain(handlers) for event_type, handlers in out.items()}
