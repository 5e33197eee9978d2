"""What the portal asks of each service, as the pages need it (typing.Protocol classes).

The HTTP adapters (`portal.adapters`) implement them over the services' APIs; `bootstrap`
alone builds those adapters; pages reach them through typed dependencies. Every method
raises `application.errors.ServiceUnavailable` when the service cannot answer and
`application.errors.ApiError` when it refuses (4xx)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .models import (
    Account,
    BroughtIn,
    Bulletin,
    ChangesSinceLastYear,
    Cycle,
    Definition,
    Delegation,
    Group,
    JsonObject,
    LastYearOffer,
    LeadNomination,
    NotificationsPage,
    Organisation,
    OrganisationsPage,
    Person,
    QuestionnaireSummary,
    QuestionnaireView,
    Reminders,
    ReportFile,
    ReportListing,
    ReturnStatus,
    ServiceRecord,
    ServicesPage,
    SignedOff,
    SubjectChoices,
    Tokens,
)
from .national_accounts import NationalAccount
from .participation import ParticipationPage
from .way_back_in import CurrentLead, LinkStatus


@dataclass(frozen=True)
class Access:
    """Who opens a questionnaire: the lead or group owner (a bearer token) or a delegate
    (the emailed link's token, sent as `X-Delegate-Token`)."""

    token: str | None = None
    delegate_token: str | None = None


class RegistrationApi(Protocol):
    """Accounts and sign-in, organisations and their leads, groups, the service directory."""

    async def me(self, token: str) -> Account: ...

    async def refresh(self, refresh_token: str) -> Tokens: ...

    async def sign_in(
        self, email: str, password: str, device_token: str | None, headers: Mapping[str, str]
    ) -> Tokens: ...

    async def sign_out(self, token: str) -> None: ...

    async def set_up(self, setup_token: str, password: str) -> None: ...

    async def request_link(self, kind: str, email: str, headers: Mapping[str, str]) -> None:
        """Ask for a `password-reset` or `set-up` link for whoever holds `email`."""
        ...

    async def check_link(self, token: str, purpose: str) -> LinkStatus: ...

    async def reset_password(self, reset_token: str, password: str) -> None: ...

    async def current_lead(self, token: str, code: str) -> CurrentLead: ...

    async def send_set_up_link(self, token: str, account_id: str) -> None: ...

    async def groups(self, token: str, organisation: str) -> list[Group]: ...

    async def define_group(self, token: str, organisation: str, body: JsonObject) -> None: ...

    async def register_organisation(self, token: str, body: JsonObject) -> None: ...

    async def nominate_lead(self, token: str, code: str, email: str, name: str) -> None: ...

    async def nominate_leads(
        self, token: str, leads: Sequence[tuple[str, str, str]]
    ) -> list[str | None]:
        """Many leads ((code, email, name), at most 1,000) in one request: for each, in order,
        None when nominated or the reason it was refused."""
        ...

    async def organisations(
        self,
        token: str,
        *,
        after: str | None,
        region: str | None,
        limit: int,
        kind: str | None = None,
        before: str | None = None,
    ) -> OrganisationsPage: ...

    async def organisation(self, token: str, code: str) -> Organisation: ...

    async def import_organisations(self, token: str, csv: bytes, *, dry_run: bool) -> JsonObject:
        """Registration's all-or-nothing import of an organisations CSV (422: every bad line
        in `details`, each with its `line`, `field` and `reason`)."""
        ...

    async def import_services(
        self,
        token: str,
        body: bytes,
        media_type: str,
        *,
        dry_run: bool,
        upload_id: str | None = None,
    ) -> JsonObject:
        """Registration's all-or-nothing import of services (CSV or JSON lines; 422: every bad
        line in `details`). A dry run that passes answers an `upload_id` that confirms the
        same file later without sending it again (`body` empty)."""
        ...

    async def national_accounts(self, token: str) -> list[NationalAccount]:
        """Every national admin, regulator and auditor account."""
        ...

    async def create_national_account(self, token: str, email: str, name: str, role: str) -> None:
        """A national account; its set-up link is emailed."""
        ...

    async def disable_account(self, token: str, account_id: str, reason: str) -> None:
        """A national account that cannot sign in again; its sessions end."""
        ...

    async def lead_history(self, token: str, code: str) -> list[LeadNomination]: ...

    async def people(self, token: str, account_ids: list[str]) -> list[Person]:
        """Who each account is, as far as the caller may know (unknown ids left out)."""
        ...

    async def services(
        self, token: str, *, cycle: str | None, status: str | None = None, limit: int = 100
    ) -> ServicesPage: ...

    async def add_service(self, token: str, body: JsonObject) -> None: ...

    async def service(self, token: str, service_id: str) -> ServiceRecord: ...

    async def service_changes(self, token: str, service_id: str) -> ChangesSinceLastYear: ...

    async def act_on_service(
        self, token: str, service_id: str, act: str, body: JsonObject
    ) -> None: ...

    async def revise_service(self, token: str, service_id: str, body: JsonObject) -> None: ...


class QuestionnaireApi(Protocol):
    """Cycles, returns, questionnaires and their answers, delegations, the sandbox."""

    async def cycles(self, token: str) -> list[Cycle]: ...

    async def cycle(self, token: str, cycle: str) -> Cycle: ...

    async def schedule_cycle(self, token: str, body: JsonObject) -> None: ...

    async def change_timetable(self, token: str, cycle: str, body: JsonObject) -> None: ...

    async def move_phase(self, token: str, cycle: str, phase: str, reason: str) -> None: ...

    async def return_status(self, token: str, cycle: str, organisation: str) -> ReturnStatus: ...

    async def act_on_return(
        self, token: str, cycle: str, organisation: str, act: str, body: JsonObject
    ) -> None: ...

    async def sign_off(self, token: str, cycle: str, organisation: str | None) -> SignedOff: ...

    async def questionnaires(self, token: str, cycle: str) -> list[QuestionnaireSummary]: ...

    async def view(self, access: Access, questionnaire_id: str) -> QuestionnaireView: ...

    async def save_answers(
        self, access: Access, questionnaire_id: str, version: int, answers: JsonObject
    ) -> None: ...

    async def try_answers(self, definition: str, body: JsonObject) -> QuestionnaireView:
        """How the questionnaire service's sandbox renders `body`'s answers (nothing saved)."""
        ...

    async def last_year(self, token: str, questionnaire_id: str) -> LastYearOffer:
        """What bringing last year's answers into a carried-forward service's questionnaire
        would do, or why it cannot."""
        ...

    async def bring_in_last_year(
        self, token: str, questionnaire_id: str, version: int, replace_answered: bool
    ) -> BroughtIn:
        """Bring last year's answers in (over answers given now only if `replace_answered`)."""
        ...

    async def submit(self, token: str, questionnaire_id: str) -> None: ...

    async def history(self, token: str, questionnaire_id: str) -> list[JsonObject]: ...

    async def withdraw_submission(self, token: str, questionnaire_id: str, reason: str) -> None: ...

    async def delegations(self, token: str, questionnaire_id: str) -> list[Delegation]: ...

    async def delegate(
        self, token: str, questionnaire_id: str, email: str, message: str | None
    ) -> None: ...

    async def act_on_delegation(
        self,
        token: str,
        questionnaire_id: str,
        delegation_id: str,
        act: str,
        body: JsonObject | None,
    ) -> None: ...

    async def opened_by(self, delegate_token: str) -> str:
        """The id of the questionnaire a delegate's link opens."""
        ...

    async def return_to_lead(
        self, delegate_token: str, questionnaire_id: str, comment: str | None
    ) -> QuestionnaireView: ...

    async def definitions(self) -> list[Definition]: ...


class ReportingApi(Protocol):
    """The reports: their list, one as tables, one as a file."""

    async def reports(self, token: str) -> list[ReportListing]: ...

    async def report(self, token: str, name: str, params: Mapping[str, str]) -> JsonObject: ...

    async def report_file(self, token: str, name: str, params: Mapping[str, str]) -> ReportFile: ...

    async def subjects(
        self, token: str, name: str, search: str | None, limit: int
    ) -> SubjectChoices: ...
    async def participation(
        self, token: str, cycle: str, params: Mapping[str, str | int | None]
    ) -> ParticipationPage:
        """One page of a cycle's organisations, filtered and sorted by `params`."""
        ...

    async def participation_file(
        self, token: str, cycle: str, params: Mapping[str, str | int | None]
    ) -> ReportFile:
        """Every organisation the filters in `params` leave, as CSV."""
        ...


class NotificationApi(Protocol):
    """Deadline reminders, bulletins and the delivery log."""

    async def reminders(self, token: str, cycle: str) -> Reminders: ...

    async def set_reminder_schedule(
        self, token: str, cycle: str, days_before: list[int]
    ) -> None: ...

    async def bulletins(self, token: str) -> list[Bulletin]: ...

    async def preview_bulletin(self, token: str, body: JsonObject) -> JsonObject:
        """What publishing `body` would send, without sending it: `recipients`, `to`,
        `subject`, `text`, `html`."""
        ...

    async def publish_bulletin(self, token: str, body: JsonObject) -> int | None:
        """Send a bulletin, or schedule it (`send_at` in `body`); how many mapping leads it
        went to, if the service says (None for one scheduled)."""
        ...

    async def bulletin(self, token: str, bulletin_id: str) -> Bulletin: ...

    async def send_bulletin_now(self, token: str, bulletin_id: str) -> Bulletin:
        """Send a scheduled bulletin before its time (409 if sent or cancelled meanwhile)."""
        ...

    async def cancel_bulletin(self, token: str, bulletin_id: str) -> Bulletin:
        """Cancel a scheduled bulletin (409 if sent or cancelled meanwhile)."""
        ...

    async def notifications(
        self,
        token: str,
        *,
        status: str | None,
        before: str | None,
        limit: int,
        recipient: str | None = None,
        kind: str | None = None,
        after: str | None = None,
    ) -> NotificationsPage: ...


@dataclass(frozen=True)
class Apis:
    """Every service the portal calls, as the pages need them."""

    registration: RegistrationApi
    questionnaire: QuestionnaireApi
    reporting: ReportingApi
    notification: NotificationApi


class Peers(Protocol):
    """The services the portal calls, as an ops engineer asks after them."""

    async def readiness(self) -> dict[str, str]:
        """Each service's answer to its readiness probe: "ready", or what is wrong."""
        ...
