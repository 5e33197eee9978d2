"""The domain's decisions, pure: no database, no server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from csm_contracts.events.accounts import AccountCreated, MappingLeadNominated
from csm_contracts.events.questionnaire import CycleSignedOff, NI51AreaScore
from csm_kernel.errors import Conflict, InvalidInput
from notification.domain import emails
from notification.domain.bulletins import (
    BulletinFilter,
    Recipient,
    bulletin_intents,
    check,
    check_known,
)
from notification.domain.emails import Lead
from notification.domain.notification import (
    Intent,
    Kind,
    Outcome,
    check_retryable,
    next_attempt,
    outcome_of,
)
from notification.domain.reminders import (
    DueReminder,
    close_of,
    nearest_due,
    reminder_intent,
    validate_schedule,
)

AT = datetime(2009, 11, 10, 9, 30, tzinfo=UTC)
CLOSE = datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC)


def envelope(event_type: str = "t") -> Any:
    return SimpleNamespace(event_id=uuid.uuid4(), occurred_at=AT, type=event_type)


# --- notifications -------------------------------------------------------------------------


def test_one_cause_one_kind_one_address_is_one_notification() -> None:
    a = Intent(Kind.BULLETIN, "5A4", "Ann@Example.org", "bulletin/1")
    b = Intent(Kind.BULLETIN, "5NT", "ann@example.org", "bulletin/1", context={"x": 1})
    assert a.id == b.id and a.dedupe_key == "bulletin/bulletin/1/ann@example.org"
    assert Intent(Kind.BULLETIN, "5A4", "ann@example.org", "bulletin/2").id != a.id


def test_outcome_of_an_attempt() -> None:
    decide = outcome_of
    assert decide(accepted=True, permanent=False, attempts=8, max_attempts=8) is Outcome.SENT
    assert decide(accepted=False, permanent=True, attempts=1, max_attempts=8) is Outcome.FAILED
    assert decide(accepted=False, permanent=False, attempts=7, max_attempts=8) is Outcome.DEFERRED
    assert decide(accepted=False, permanent=False, attempts=8, max_attempts=8) is Outcome.FAILED


def test_retries_back_off_from_5_seconds_to_15_minutes() -> None:
    waits = [(next_attempt(n, AT) - AT).total_seconds() for n in (0, 1, 2, 3, 8, 20)]
    assert waits == [5, 5, 10, 20, 640, 900]


def test_only_a_failed_email_is_retried() -> None:
    check_retryable("n1", "failed")
    for status in ("sent", "pending"):
        with pytest.raises(Conflict, match=f"n1 is {status}"):
            check_retryable("n1", status)


# --- emails --------------------------------------------------------------------------------


def account(**more: Any) -> AccountCreated:
    fields: dict[str, Any] = {
        "organisation_id": "5A4",
        "account_id": "a1",
        "email": "ann@pct.nhs.uk",
        "name": "Ann Lead",
        "roles": ["mapping-lead"],
        "created_by": "user:admin",
        "setup_id": "s1",
        "setup_expires_at": AT + timedelta(hours=71, minutes=40),
        **more,
    }
    return AccountCreated(**fields)


def test_a_set_up_email_says_how_long_its_link_lasts_and_never_holds_it() -> None:
    event = account()
    assert emails.set_up_link_needed(event) and emails.names_organisation(event)
    intent = emails.account_set_up(envelope(), event, "Anytown PCT")
    assert intent.kind == Kind.ACCOUNT_SET_UP and intent.recipient == "ann@pct.nhs.uk"
    assert intent.context == {
        "name": "Ann Lead",
        "setup_id": "s1",
        "valid_hours": 72,
        "organisation_name": "Anytown PCT",
        "role": "mapping-lead",
        "group_name": None,
        "again": False,
    }
    assert not emails.set_up_link_needed(account(setup_id=None))
    assert not emails.names_organisation(account(organisation_id="NATIONAL"))
    # A group owner's email names its group and the organisation it belongs to (#18).
    owner = account(roles=["group-owner"], group_id="g1", group_name="North Locality")
    assert emails.names_organisation(owner)
    owned = emails.account_set_up(envelope(), owner, "Anytown PCT").context
    assert owned["role"] == "group-owner" and owned["group_name"] == "North Locality"


def test_only_the_lead_a_nomination_replaces_is_told() -> None:
    old = Lead("5A4", "a1", "ann@pct.nhs.uk", "Ann")
    nomination = MappingLeadNominated(
        organisation_id="5A4",
        account_id="a2",
        email="bob@pct.nhs.uk",
        name="Bob",
        nominated_by="user:admin",
        replaces_account_id="a1",
    )
    assert emails.replaces(old, nomination) == old
    assert emails.replaces(None, nomination) is None
    other = nomination.model_copy(update={"replaces_account_id": "a9"})
    assert emails.replaces(old, other) is None
    intent = emails.lead_replaced(envelope(), nomination, old, "Anytown PCT")
    assert (intent.recipient, intent.context["new_lead_name"]) == ("ann@pct.nhs.uk", "Bob")
    assert emails.lead_of(nomination) == Lead("5A4", "a2", "bob@pct.nhs.uk", "Bob")


def test_a_sign_off_confirmation_says_what_was_signed_off() -> None:
    lead = Lead("5A4", "a1", "ann@pct.nhs.uk", "Ann")
    event = CycleSignedOff(
        organisation_id="5A4",
        cycle="2009-10",
        signed_off_at=datetime(2010, 2, 26, 16, 5, tzinfo=UTC),
        signed_off_by="user:a1",
        questionnaires_submitted=4,
        ni51=[
            NI51AreaScore(
                area="Anytown",
                learning_disabilities=4,
                urgent_24_hour_cover=3,
                age_16_17=3,
                early_intervention=3,
                score=13,
            )
        ],
    )
    env = envelope("questionnaire.CycleSignedOff")
    intent = emails.sign_off_confirmation(env, event, lead, "Anytown PCT")
    assert intent.cause == str(env.event_id)
    assert intent.caused_by_type == "questionnaire.CycleSignedOff"
    assert intent.context["signed_off_at"] == "26 February 2010, 16:05"
    assert intent.context["answers_count"] == "-" and intent.context["supersedes"] is None
    assert intent.context["ni51"] == [{"area": "Anytown", "score": 13}]


# --- reminders -----------------------------------------------------------------------------


def test_a_schedule_is_distinct_whole_days_largest_first() -> None:
    assert validate_schedule([7, 28, 1]) == [28, 7, 1]
    for bad in ([], [0], [121], [7, 7], list(range(1, 12)), [True]):
        with pytest.raises(InvalidInput) as refused:
            validate_schedule(bad)
        assert refused.value.details[0]["field"] == "days_before"


def test_the_nearest_due_offset_and_only_before_the_close() -> None:
    offsets = [28, 14, 7, 1]
    assert nearest_due(offsets, CLOSE, CLOSE - timedelta(days=30)) is None
    assert nearest_due(offsets, CLOSE, CLOSE - timedelta(days=28)) == 28
    # Down for weeks: only the nearest of those due, never a burst.
    assert nearest_due(offsets, CLOSE, CLOSE - timedelta(days=6)) == 7
    assert nearest_due(offsets, CLOSE, CLOSE - timedelta(hours=1)) == 1
    assert nearest_due(offsets, CLOSE, CLOSE) is None
    extension = CLOSE + timedelta(days=10)
    assert close_of(CLOSE, extension) == extension
    assert close_of(CLOSE, CLOSE - timedelta(days=1)) == CLOSE
    assert close_of(CLOSE, None) == CLOSE


def test_a_reminder_is_one_per_offset_and_close() -> None:
    due = DueReminder("2009-10", "5A4", "Anytown PCT", "ann@pct.nhs.uk", "Ann", CLOSE, False, 7)
    now = CLOSE - timedelta(days=6, hours=1)
    intent = reminder_intent(due, now, "https://csm.example/")
    assert intent.cause == f"reminder/2009-10/5A4/7/{CLOSE.isoformat()}"
    assert intent.context["days_left"] == 7
    assert intent.context["deadline"] == "28 February 2010, 23:59"
    assert intent.context["link"] == "https://csm.example/returns/2009-10"
    moved = DueReminder(**{**due.__dict__, "closes_at": CLOSE + timedelta(days=7)})
    assert reminder_intent(moved, now, "https://csm.example").id != intent.id


# --- bulletins -----------------------------------------------------------------------------


def test_a_bulletin_is_checked_naming_the_field() -> None:
    assert check("  Mapping \n opens ", " Body \n", BulletinFilter()) == ("Mapping opens", "Body")
    cases = [
        ("", "b", BulletinFilter(), "subject"),
        ("s" * 201, "b", BulletinFilter(), "subject"),
        ("s", " ", BulletinFilter(), "body"),
        ("s", "b", BulletinFilter(regions=["atlantis"]), "filter.regions"),
        ("s", "b", BulletinFilter(kinds=["school"]), "filter.kinds"),
    ]
    for subject, body, audience, field in cases:
        with pytest.raises(InvalidInput) as refused:
            check(subject, body, audience)
        assert refused.value.details[0]["field"] == field
    with pytest.raises(InvalidInput, match="5ZZ"):
        check_known(["5A4", "5ZZ"], ["5A4"])


def test_a_bulletin_is_one_email_per_lead_and_none_is_a_refusal() -> None:
    leads = [
        Recipient("5A4", "ann@example.org", "Ann", "Anytown PCT"),
        Recipient("5NT", "ANN@example.org", "Ann", "Manchester PCT"),
    ]
    intents = bulletin_intents("b1", "News", "One.\n\nTwo\nlines.", leads)
    assert {i.id for i in intents} == {intents[0].id}  # one address, one email
    assert intents[0].context["paragraphs"] == [["One."], ["Two", "lines."]]
    with pytest.raises(InvalidInput) as refused:
        bulletin_intents("b1", "News", "One.", [])
    assert refused.value.details[0]["field"] == "filter"
