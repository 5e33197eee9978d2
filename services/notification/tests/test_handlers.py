"""Events to intents, on real PostgreSQL: who gets which email, with what the template needs;
the same event twice makes one intent; no lead known means a refusal (dead letter)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from csm_contracts.events.accounts import (
    PASSWORD_RESET_LINK,
    AccountCreated,
    MappingLeadNominated,
    PasswordReset,
    PasswordResetRequested,
    SetUpLinkReissued,
)
from csm_contracts.events.cycles import ExtensionGranted, ReturnReopened
from csm_contracts.events.questionnaire import CycleSignedOff, QuestionnaireDelegated
from csm_contracts.events.registration import OrganisationRegistered
from csm_contracts.events.responses import (
    DelegationRevoked,
    QuestionnaireIssued,
    QuestionnaireReturned,
    QuestionnaireSentBack,
    SubjectKind,
)
from csm_kernel.consumer import RejectedMessage
from csm_kernel.database import migrate
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings
from notification.application.links import complete_context
from notification.application.templates import render
from notification.bootstrap import email_handlers

AT = datetime(2009, 11, 10, 9, 30, tzinfo=UTC)
_EMAILS = email_handlers()
handlers = SimpleNamespace(
    REGISTRATION=_EMAILS.registration().handlers(),
    QUESTIONNAIRE=_EMAILS.questionnaire().handlers(),
)
TOKENS = LinkTokens(b"k" * 32)
SETTINGS = ServiceSettings(portal_url="https://csm.example")


def envelope(event_type: str) -> Any:
    return SimpleNamespace(
        event_id=uuid.uuid4(), correlation_id="c", occurred_at=AT, type=event_type
    )


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, "notification", resources.files("notification.adapters").joinpath("sql"))
    return pg_pool


async def deliver(pool: asyncpg.Pool, table: dict, event: Any, env: Any = None) -> Any:
    env = env or envelope(event.EVENT_TYPE)
    async with pool.acquire() as conn, conn.transaction():
        await table[event.EVENT_TYPE](conn, env, event)
    return env


async def intents(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM notifications ORDER BY created_at, kind")
    return [{**dict(r), "context": json.loads(r["context"])} for r in rows]


def rendered(row: dict[str, Any]) -> Any:
    return render(row["kind"], complete_context(row["kind"], row["context"], SETTINGS, TOKENS))


async def a_lead(pool: asyncpg.Pool, org: str = "5A4", email: str = "ann@pct.nhs.uk") -> None:
    await deliver(
        pool,
        handlers.REGISTRATION,
        OrganisationRegistered(
            organisation_id=org, code=org, name="Anytown PCT", kind="pct", region="london"
        ),
    )
    await deliver(
        pool,
        handlers.REGISTRATION,
        MappingLeadNominated(
            organisation_id=org,
            account_id="a1",
            email=email,
            name="Ann Lead",
            nominated_by="user:admin",
        ),
    )


async def test_a_new_account_gets_its_set_up_link_once(pool) -> None:
    await a_lead(pool)
    event = AccountCreated(
        organisation_id="5A4",
        account_id="a1",
        email="ann@pct.nhs.uk",
        name="Ann Lead",
        roles=["mapping-lead"],
        created_by="user:admin",
        setup_id="s123",
        setup_expires_at=AT + timedelta(hours=72),
    )
    env = await deliver(pool, handlers.REGISTRATION, event)
    await deliver(pool, handlers.REGISTRATION, event, env)  # the same event again
    [row] = await intents(pool)
    assert row["kind"] == "account-set-up" and row["recipient"] == "ann@pct.nhs.uk"
    assert row["context"]["setup_id"] == "s123" and row["context"]["valid_hours"] == 72
    assert "token" not in json.dumps(row["context"])  # no link in the stored intent
    mail = rendered(row)
    assert f"https://csm.example/account/set-up?token={TOKENS.set_up_token('s123')}" in mail.text
    assert "The account is for Anytown PCT: you are its mapping lead" in mail.text
    assert "72 hours" in mail.html


async def test_a_replaced_lead_is_told(pool) -> None:
    await a_lead(pool)
    await deliver(
        pool,
        handlers.REGISTRATION,
        MappingLeadNominated(
            organisation_id="5A4",
            account_id="a2",
            email="bob@pct.nhs.uk",
            name="Bob New",
            replaces_account_id="a1",
            nominated_by="user:admin",
        ),
    )
    [row] = await intents(pool)
    assert row["kind"] == "lead-replaced" and row["recipient"] == "ann@pct.nhs.uk"
    assert "Bob New is now the mapping lead for Anytown PCT" in rendered(row).text
    lead = await pool.fetchrow("SELECT * FROM leads WHERE organisation_id = '5A4'")
    assert lead["email"] == "bob@pct.nhs.uk"


async def test_the_delegation_round_trip_emails_the_right_people(pool) -> None:
    await a_lead(pool)
    base = {"organisation_id": "5A4", "cycle": "2009-10", "questionnaire_id": "q1"}
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        QuestionnaireIssued(
            **base,
            definition="service@1",
            title="Service: Health visiting",
            subject_kind=SubjectKind.SERVICE,
            subject_id="s1",
        ),
    )
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        QuestionnaireDelegated(
            **base,
            delegation_id="d1",
            delegate_email="mgr@trust.nhs.uk",
            delegated_by="user:a1",
            expires_at=datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC),
            message="Over to you",
        ),
    )
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        QuestionnaireReturned(
            **base, delegation_id="d1", delegate_email="mgr@trust.nhs.uk", comment="Done"
        ),
    )
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        QuestionnaireSentBack(
            **base, delegation_id="d1", delegate_email="mgr@trust.nhs.uk", comment="Add the tier"
        ),
    )
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        DelegationRevoked(
            **base, delegation_id="d1", delegate_email="mgr@trust.nhs.uk", reason="wrong person"
        ),
    )
    rows = {r["kind"]: r for r in await intents(pool)}
    assert {k: r["recipient"] for k, r in rows.items()} == {
        "delegation-invitation": "mgr@trust.nhs.uk",
        "questionnaire-returned": "ann@pct.nhs.uk",
        "questionnaire-sent-back": "mgr@trust.nhs.uk",
        "delegation-revoked": "mgr@trust.nhs.uk",
    }
    invitation = rendered(rows["delegation-invitation"])
    assert invitation.subject == "Please complete: Service: Health visiting"
    assert f"https://csm.example/delegate/{TOKENS.delegation_token('q1', 'd1')}" in invitation.text
    assert "28 February 2010, 23:59" in invitation.text and "Over to you" in invitation.text
    assert "Add the tier" in rendered(rows["questionnaire-sent-back"]).text
    assert "https://csm.example/questionnaires/q1" in rendered(rows["questionnaire-returned"]).text
    assert "wrong person" in rendered(rows["delegation-revoked"]).text


async def test_sign_off_and_reopening_reach_the_lead(pool) -> None:
    await a_lead(pool)
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        CycleSignedOff(
            organisation_id="5A4",
            cycle="2009-10",
            signed_off_at=AT,
            signed_off_by="user:a1",
            questionnaires_submitted=3,
            answers_count=120,
            organisation_name="Anytown PCT",
            ni51=[
                {
                    "area": "00AA",
                    "learning_disabilities": 3,
                    "urgent_24_hour_cover": 3,
                    "age_16_17": 2,
                    "early_intervention": 4,
                    "score": 12,
                }
            ],
        ),
    )
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        ReturnReopened(organisation_id="5A4", cycle="2009-10", reason="NI 51 queried"),
    )
    rows = {r["kind"]: r for r in await intents(pool)}
    confirmation = rendered(rows["sign-off-confirmation"])
    assert "signed off at 10 November 2009, 09:30" in confirmation.text
    assert "NI 51 for 00AA: 12 out of 16" in confirmation.text
    assert "questionnaires submitted: 3" in confirmation.text
    assert "NI 51 queried" in rendered(rows["return-reopened"]).text


async def test_no_known_lead_is_a_refusal_and_records_nothing(pool) -> None:
    event = ReturnReopened(organisation_id="ZZ9", cycle="2009-10", reason="x")
    with pytest.raises(RejectedMessage, match="no mapping lead is known for ZZ9"):
        await deliver(pool, handlers.QUESTIONNAIRE, event)
    assert await intents(pool) == []


async def test_a_group_owners_set_up_email_names_the_group_and_the_organisation(pool) -> None:
    await a_lead(pool)
    await deliver(
        pool,
        handlers.REGISTRATION,
        AccountCreated(
            organisation_id="5A4",
            account_id="o1",
            email="owen@pct.nhs.uk",
            name="Owen Owner",
            roles=["group-owner"],
            group_id="g1",
            group_name="North Locality",
            created_by="user:a1",
            setup_id="s-owner",
            setup_expires_at=AT + timedelta(hours=72),
        ),
    )
    [row] = await intents(pool)
    mail = rendered(row)
    assert "the service group North Locality at Anytown PCT" in mail.text
    assert "<strong>North Locality</strong> at Anytown PCT" in mail.html


async def test_a_new_set_up_link_says_the_old_one_no_longer_works(pool) -> None:
    await a_lead(pool)
    await deliver(
        pool,
        handlers.REGISTRATION,
        SetUpLinkReissued(
            organisation_id="5A4",
            account_id="a1",
            email="ann@pct.nhs.uk",
            name="Ann Lead",
            roles=["mapping-lead"],
            setup_id="s-again",
            setup_expires_at=AT + timedelta(hours=72),
            requested_by="self",
        ),
    )
    [row] = await intents(pool)
    mail = rendered(row)
    assert mail.subject == "A new link to set up your Children's Services Mapping account"
    assert "Any earlier link you were sent no longer works" in mail.text
    assert "The account is for Anytown PCT" in mail.text
    assert TOKENS.set_up_token("s-again") in mail.text


async def test_a_forgotten_password_gets_a_reset_link_and_a_reset_is_told(pool) -> None:
    event = PasswordResetRequested(
        organisation_id="NATIONAL",
        account_id="n1",
        email="nia@dfe.example",
        name="Nia National",
        reset_id="r123",
        reset_expires_at=AT + timedelta(hours=1),
    )
    env = await deliver(pool, handlers.REGISTRATION, event)
    await deliver(pool, handlers.REGISTRATION, event, env)  # the same event again
    [row] = await intents(pool)
    assert row["kind"] == "password-reset" and row["recipient"] == "nia@dfe.example"
    assert "token" not in json.dumps(row["context"])
    mail = rendered(row)
    token = TOKENS.token(PASSWORD_RESET_LINK, "r123")
    link = f"https://csm.example/account/reset-password?token={token}"
    assert link in mail.text and "60 minutes" in mail.text
    # The reset token is not a set-up token.
    assert TOKENS.set_up_token("r123") not in mail.text

    await deliver(
        pool,
        handlers.REGISTRATION,
        PasswordReset(
            organisation_id="NATIONAL", account_id="n1", email="nia@dfe.example", name="Nia"
        ),
    )
    changed = next(r for r in await intents(pool) if r["kind"] == "password-changed")
    text = rendered(changed).text
    assert "changed on 10 November 2009 at 9:30am" in text
    assert "https://csm.example/forgotten-password" in text


async def test_a_lead_is_emailed_when_granted_an_extension(pool) -> None:
    await a_lead(pool)
    await deliver(
        pool,
        handlers.QUESTIONNAIRE,
        ExtensionGranted(
            organisation_id="5A4",
            cycle="2009-10",
            until=datetime(2010, 3, 14, 23, 59, tzinfo=UTC),
            reason="the data manager was away",
        ),
    )
    [row] = await intents(pool)
    assert row["kind"] == "extension-granted" and row["recipient"] == "ann@pct.nhs.uk"
    mail = rendered(row)
    assert mail.subject == "Extension granted: Anytown PCT, 2009-10"
    assert "until 14 March 2010 at 11:59pm" in mail.text
    assert "the data manager was away" in mail.text
    assert "https://csm.example/returns/2009-10" in mail.text
