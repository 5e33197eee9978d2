"""From events to emails: each handler runs in the consumer's transaction (the one that records
the message as processed) and records what to send; the sender sends it. So a redelivered or
replayed event finds its message processed, and an intent recorded twice is kept once.

Registration's events keep the copy of who leads which organisation; the questionnaire
service's events cause the emails about delegation and sign-off (`domain.emails` says what each
says). An email whose recipient cannot be known (no mapping lead for the organisation) is
refused: the event goes to the dead-letter topic, to be replayed once the lead is known. When
the event could not have happened without a lead (a delegate returns what a lead delegated; a
lead signs off), the lead exists and only this consumer has not heard yet: registration's topic
comes to another consumer group and may be a little behind (more so with many partitions and
replicas restarting), so `NotYetKnown` has the consumer try again for a while first.
A national-team action (an extension, a reopening) for an organisation with no lead is refused
at once, holding no one else's emails up.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from csm_contracts.events.registration import OrganisationRegistered, OrganisationRenamed
from csm_contracts.events.responses import (
    DelegationRevoked,
    QuestionnaireIssued,
    QuestionnaireReturned,
    QuestionnaireSentBack,
)
from csm_kernel.consumer import NotYetKnown, RejectedMessage
from csm_kernel.database import Connection
from csm_kernel.handlers import HandlerTable

from ..domain import emails
from ..domain.emails import Lead
from ..domain.notification import Intent
from .ports import Directory, Intents

__all__ = ["ConsumerTables", "EmailHandlers"]


class EmailHandlers:
    """The consumers' handlers for emails and the copy of organisations and leads they need."""

    def __init__(self, directory: Directory, intents: Intents) -> None:
        self._directory = directory
        self._intents = intents

    def registration(self) -> HandlerTable:
        """What the `Topics.REGISTRATION` consumer applies."""
        table = HandlerTable()
        table.add(OrganisationRegistered, self.organisation_registered)
        table.add(OrganisationRenamed, self.organisation_renamed)
        table.add(AccountCreated, self.account_created)
        table.add(MappingLeadNominated, self.lead_nominated)
        table.add(SetUpLinkReissued, self.set_up_link_reissued)
        table.add(PasswordResetRequested, self.password_reset_requested)
        table.add(PasswordReset, self.password_reset)
        return table

    def questionnaire(self) -> HandlerTable:
        """The emails the questionnaire service's events cause."""
        table = HandlerTable()
        table.add(QuestionnaireIssued, self.questionnaire_issued)
        table.add(QuestionnaireDelegated, self.delegated)
        table.add(DelegationRevoked, self.delegation_revoked)
        table.add(QuestionnaireReturned, self.returned)
        table.add(QuestionnaireSentBack, self.sent_back)
        table.add(CycleSignedOff, self.signed_off)
        table.add(ReturnReopened, self.reopened)
        table.add(ExtensionGranted, self.extension_granted)
        return table

    # --- lookups -------------------------------------------------------------------------

    async def _organisation_name(self, conn: Connection, code: str) -> str:
        return await self._directory.organisation_name(conn, code) or code

    async def _lead(
        self, conn: Connection, organisation_id: str, what: str, *, lead_exists: bool
    ) -> Lead:
        lead = await self._directory.lead(conn, organisation_id)
        if lead is None:
            problem = f"no mapping lead is known for {organisation_id}: nobody to tell {what}"
            raise NotYetKnown(problem) if lead_exists else RejectedMessage(problem)
        return lead

    async def _title(self, conn: Connection, questionnaire_id: str) -> str:
        title = await self._directory.questionnaire_title(conn, questionnaire_id)
        return title or emails.UNKNOWN_TITLE

    async def _send(self, conn: Connection, envelope: EventEnvelope, intent: Intent) -> None:
        await self._intents.record(conn, [intent], envelope.occurred_at)

    # --- registration ----------------------------------------------------------------------

    async def organisation_registered(
        self, conn: Connection, envelope: EventEnvelope, event: OrganisationRegistered
    ) -> None:
        await self._directory.upsert_organisation(
            conn, event.code, event.name, event.kind.value, event.region.value
        )

    async def organisation_renamed(
        self, conn: Connection, envelope: EventEnvelope, event: OrganisationRenamed
    ) -> None:
        await self._directory.rename_organisation(conn, event.organisation_id, event.new_name)

    async def account_created(
        self, conn: Connection, envelope: EventEnvelope, event: AccountCreated
    ) -> None:
        """A new account's set-up link (its token is made when the email is written)."""
        if not emails.set_up_link_needed(event):
            return
        organisation = None
        if emails.names_organisation(event):
            organisation = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.account_set_up(envelope, event, organisation))

    async def set_up_link_reissued(
        self, conn: Connection, envelope: EventEnvelope, event: SetUpLinkReissued
    ) -> None:
        """A new set-up link for an account not set up yet (the old one no longer works)."""
        organisation = None
        if emails.names_organisation(event):
            organisation = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.account_set_up(envelope, event, organisation))

    async def password_reset_requested(
        self, conn: Connection, envelope: EventEnvelope, event: PasswordResetRequested
    ) -> None:
        """A forgotten password's link (its token is made when the email is written)."""
        await self._send(conn, envelope, emails.password_reset_link(envelope, event))

    async def password_reset(
        self, conn: Connection, envelope: EventEnvelope, event: PasswordReset
    ) -> None:
        """Tell the holder their password changed, in case it was not them."""
        await self._send(conn, envelope, emails.password_changed(envelope, event))

    async def lead_nominated(
        self, conn: Connection, envelope: EventEnvelope, event: MappingLeadNominated
    ) -> None:
        """Remember the new lead; tell the lead it replaces."""
        previous = await self._directory.lead(conn, event.organisation_id)
        await self._directory.set_lead(conn, emails.lead_of(event))
        replaced = emails.replaces(previous, event)
        if replaced is not None:
            name = await self._organisation_name(conn, event.organisation_id)
            await self._send(conn, envelope, emails.lead_replaced(envelope, event, replaced, name))

    # --- questionnaire ---------------------------------------------------------------------

    async def questionnaire_issued(
        self, conn: Connection, envelope: EventEnvelope, event: QuestionnaireIssued
    ) -> None:
        await self._directory.add_questionnaire(
            conn, event.questionnaire_id, event.organisation_id, event.cycle, event.title
        )

    async def delegated(
        self, conn: Connection, envelope: EventEnvelope, event: QuestionnaireDelegated
    ) -> None:
        title = event.title or await self._title(conn, event.questionnaire_id)
        name = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.delegation_invitation(envelope, event, title, name))

    async def delegation_revoked(
        self, conn: Connection, envelope: EventEnvelope, event: DelegationRevoked
    ) -> None:
        title = await self._title(conn, event.questionnaire_id)
        name = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.delegation_revoked(envelope, event, title, name))

    async def returned(
        self, conn: Connection, envelope: EventEnvelope, event: QuestionnaireReturned
    ) -> None:
        lead = await self._lead(
            conn, event.organisation_id, "that a questionnaire was returned", lead_exists=True
        )
        title = await self._title(conn, event.questionnaire_id)
        await self._send(
            conn, envelope, emails.questionnaire_returned(envelope, event, lead, title)
        )

    async def sent_back(
        self, conn: Connection, envelope: EventEnvelope, event: QuestionnaireSentBack
    ) -> None:
        title = await self._title(conn, event.questionnaire_id)
        name = await self._organisation_name(conn, event.organisation_id)
        intent = emails.questionnaire_sent_back(envelope, event, title, name)
        await self._send(conn, envelope, intent)

    async def signed_off(
        self, conn: Connection, envelope: EventEnvelope, event: CycleSignedOff
    ) -> None:
        lead = await self._lead(
            conn, event.organisation_id, "that its return was signed off", lead_exists=True
        )
        name = event.organisation_name or await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.sign_off_confirmation(envelope, event, lead, name))

    async def extension_granted(
        self, conn: Connection, envelope: EventEnvelope, event: ExtensionGranted
    ) -> None:
        lead = await self._lead(
            conn, event.organisation_id, "that its return was extended", lead_exists=False
        )
        name = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.extension_granted(envelope, event, lead, name))

    async def reopened(
        self, conn: Connection, envelope: EventEnvelope, event: ReturnReopened
    ) -> None:
        lead = await self._lead(
            conn, event.organisation_id, "that its return was reopened", lead_exists=False
        )
        name = await self._organisation_name(conn, event.organisation_id)
        await self._send(conn, envelope, emails.return_reopened(envelope, event, lead, name))


@dataclass(frozen=True)
class ConsumerTables:
    """What each of the service's consumers applies."""

    #: `Topics.REGISTRATION`: organisations, mapping leads and new accounts.
    registration: HandlerTable
    #: `Topics.QUESTIONNAIRE`: the reminders' state first, then the emails, so a refused email
    #: rolls both back, for a replay to redo.
    questionnaire: HandlerTable
