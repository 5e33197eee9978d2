"""What each event's email says and to whom: pure builders from an event (and the facts this
service keeps: the organisation's name, its mapping lead, a questionnaire's title) to the
`Intent` to record. The application looks the facts up and records what these decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.accounts import (
    AccountCreated,
    MappingLeadNominated,
    PasswordReset,
    PasswordResetRequested,
    SetUpLinkReissued,
)
from csm_contracts.events.cycles import ExtensionGranted, ReturnReopened
from csm_contracts.events.questionnaire import CycleSignedOff, QuestionnaireDelegated
from csm_contracts.events.responses import (
    DelegationRevoked,
    QuestionnaireReturned,
    QuestionnaireSentBack,
)

from .notification import Intent, Kind
from .reminders import _MONTHS
from .reminders import UK as _UK

#: A questionnaire's title when this service has not seen it issued.
UNKNOWN_TITLE = "a Children's Services Mapping questionnaire"


@dataclass(frozen=True)
class Lead:
    """An organisation's mapping lead, as registration's events told this service."""

    organisation_id: str
    account_id: str
    email: str
    name: str


def when(at: datetime) -> str:
    """A time as GOV.UK writes it, in UK time: `6 December 2026 at 8:14am`."""
    local = at.astimezone(_UK)
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"
    if (local.hour, local.minute) == (12, 0):
        clock = "midday"
    elif (local.hour, local.minute) == (0, 0):
        clock = "midnight"
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year} at {clock}"


def human(at: datetime) -> str:
    """A time as people read it in an email: `28 February 2010, 23:59`."""
    return f"{at.day} {at:%B %Y, %H:%M}"


def _cause(envelope: EventEnvelope) -> str:
    return str(envelope.event_id)


def set_up_link_needed(event: AccountCreated) -> bool:
    """An account from before set-up links were emailed from here has none to send."""
    return event.setup_id is not None and event.setup_expires_at is not None


def names_organisation(event: AccountCreated | SetUpLinkReissued) -> bool:
    """Whether the set-up email names an organisation: a mapping lead's, or a group owner's
    (whose group it names too); a national account's belongs to none."""
    return event.organisation_id != "NATIONAL" and (
        "mapping-lead" in event.roles or "group-owner" in event.roles
    )


def _role(event: AccountCreated | SetUpLinkReissued) -> str:
    if "mapping-lead" in event.roles:
        return "mapping-lead"
    if "group-owner" in event.roles:
        return "group-owner"
    return "national"


def account_set_up(
    envelope: EventEnvelope,
    event: AccountCreated | SetUpLinkReissued,
    organisation_name: str | None,
) -> Intent:
    """A new account's set-up link, or a new one for an account not set up yet (its token is
    made when the email is written). It says what the account is for: the organisation a
    mapping lead leads, the group (and organisation) a group owner owns, or the national
    team's work."""
    assert event.setup_expires_at is not None
    hours = max(1, round((event.setup_expires_at - envelope.occurred_at).total_seconds() / 3600))
    return Intent(
        kind=Kind.ACCOUNT_SET_UP,
        organisation_id=event.organisation_id,
        recipient=str(event.email),
        recipient_name=event.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": event.name,
            "setup_id": event.setup_id,
            "valid_hours": hours,
            "organisation_name": organisation_name,
            "role": _role(event),
            "group_name": event.group_name,
            "again": isinstance(event, SetUpLinkReissued),
        },
    )


def password_reset_link(envelope: EventEnvelope, event: PasswordResetRequested) -> Intent:
    """A forgotten password's link (its token is made when the email is written)."""
    minutes = max(1, round((event.reset_expires_at - envelope.occurred_at).total_seconds() / 60))
    return Intent(
        kind=Kind.PASSWORD_RESET,
        organisation_id=event.organisation_id,
        recipient=str(event.email),
        recipient_name=event.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": event.name, "reset_id": event.reset_id, "valid_minutes": minutes},
    )


def password_changed(envelope: EventEnvelope, event: PasswordReset) -> Intent:
    """Tells the account holder their password was changed, in case it was not them."""
    return Intent(
        kind=Kind.PASSWORD_CHANGED,
        organisation_id=event.organisation_id,
        recipient=str(event.email),
        recipient_name=event.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"name": event.name, "changed_at": when(envelope.occurred_at)},
    )


def extension_granted(
    envelope: EventEnvelope, event: ExtensionGranted, lead: Lead, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.EXTENSION_GRANTED,
        organisation_id=event.organisation_id,
        recipient=lead.email,
        recipient_name=lead.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": lead.name,
            "cycle": event.cycle,
            "until": when(event.until),
            "reason": event.reason,
            "organisation_name": organisation_name,
        },
    )


def lead_of(event: MappingLeadNominated) -> Lead:
    return Lead(event.organisation_id, event.account_id, str(event.email), event.name)


def replaces(previous: Lead | None, event: MappingLeadNominated) -> Lead | None:
    """The lead a nomination replaces, to be told: only the one it says it replaces."""
    if previous is not None and previous.account_id == event.replaces_account_id:
        return previous
    return None


def lead_replaced(
    envelope: EventEnvelope, event: MappingLeadNominated, previous: Lead, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.LEAD_REPLACED,
        organisation_id=event.organisation_id,
        recipient=previous.email,
        recipient_name=previous.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": previous.name,
            "new_lead_name": event.name,
            "organisation_name": organisation_name,
        },
    )


def delegation_invitation(
    envelope: EventEnvelope, event: QuestionnaireDelegated, title: str, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.DELEGATION_INVITATION,
        organisation_id=event.organisation_id,
        recipient=str(event.delegate_email),
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "title": title,
            "message": event.message,
            "cycle": event.cycle,
            "expires_at": human(event.expires_at),
            "organisation_name": organisation_name,
            "questionnaire_id": event.questionnaire_id,
            "delegation_id": event.delegation_id,
        },
    )


def delegation_revoked(
    envelope: EventEnvelope, event: DelegationRevoked, title: str, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.DELEGATION_REVOKED,
        organisation_id=event.organisation_id,
        recipient=event.delegate_email,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={"title": title, "reason": event.reason, "organisation_name": organisation_name},
    )


def questionnaire_returned(
    envelope: EventEnvelope, event: QuestionnaireReturned, lead: Lead, title: str
) -> Intent:
    return Intent(
        kind=Kind.QUESTIONNAIRE_RETURNED,
        organisation_id=event.organisation_id,
        recipient=lead.email,
        recipient_name=lead.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": lead.name,
            "title": title,
            "cycle": event.cycle,
            "delegate_email": event.delegate_email,
            "comment": event.comment,
            "questionnaire_id": event.questionnaire_id,
        },
    )


def questionnaire_sent_back(
    envelope: EventEnvelope, event: QuestionnaireSentBack, title: str, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.QUESTIONNAIRE_SENT_BACK,
        organisation_id=event.organisation_id,
        recipient=event.delegate_email,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "title": title,
            "comment": event.comment,
            "organisation_name": organisation_name,
            "questionnaire_id": event.questionnaire_id,
            "delegation_id": event.delegation_id,
        },
    )


def sign_off_confirmation(
    envelope: EventEnvelope, event: CycleSignedOff, lead: Lead, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.SIGN_OFF_CONFIRMATION,
        organisation_id=event.organisation_id,
        recipient=lead.email,
        recipient_name=lead.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": lead.name,
            "organisation_name": organisation_name,
            "cycle": event.cycle,
            "signed_off_at": human(event.signed_off_at),
            "questionnaires_submitted": event.questionnaires_submitted,
            "answers_count": event.answers_count if event.answers_count is not None else "-",
            "ni51": [{"area": s.area, "score": s.score} for s in event.ni51],
            "supersedes": human(event.supersedes) if event.supersedes else None,
        },
    )


def return_reopened(
    envelope: EventEnvelope, event: ReturnReopened, lead: Lead, organisation_name: str
) -> Intent:
    return Intent(
        kind=Kind.RETURN_REOPENED,
        organisation_id=event.organisation_id,
        recipient=lead.email,
        recipient_name=lead.name,
        cause=_cause(envelope),
        caused_by_type=envelope.type,
        context={
            "name": lead.name,
            "cycle": event.cycle,
            "reason": event.reason,
            "organisation_name": organisation_name,
        },
    )
