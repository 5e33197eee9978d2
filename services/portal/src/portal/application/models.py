"""The portal's own read models of the services' answers: what its pages use of each JSON
body, parsed once in the HTTP adapters so that pages and templates get typed objects.

A service never imports another, so these are the portal's models of the JSON, not the
services' own classes. They are tolerant (`extra="ignore"`): a field a service adds does no
harm, and a page reads only what is declared here.

A questionnaire's rendering (`QuestionnaireView`: its sections and questions with their
answers) is a `TypedDict`, validated and stripped to its declared keys in the same way: the
pure functions of `application.answers` read and overlay it as the JSON it is, and the
service leaves a key out (a question's help, a section's grade) rather than send null, which
the templates test for. A report's tables, drawn column by column whatever the report, stay a
JSON object (`JsonObject`)."""

from __future__ import annotations

from typing import Any, Required

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from typing_extensions import TypedDict

#: A JSON object a page reads generically.
JsonObject = dict[str, Any]


class ReadModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- registration --------------------------------------------------------------------------


class Account(ReadModel):
    """`GET /auth/me`: who the token is."""

    account_id: str
    roles: list[str]
    organisation_id: str | None = None
    group_id: str | None = None


class Person(ReadModel):
    """`GET /people`: who an account is, as far as the caller may know (`name` and `email`
    None where they may not; then only its organisation, or `national`)."""

    account_id: str
    name: str | None = None
    email: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    national: bool = False


class Tokens(ReadModel):
    """`POST /auth/sign-in` and `/auth/refresh`."""

    access_token: str
    refresh_token: str
    device_token: str | None = None


class Group(ReadModel):
    """`GET /organisations/{code}/groups`: one service group."""

    group_id: str
    name: str
    kind: str
    owner_account_id: str | None = None


class OrganisationSummary(ReadModel):
    code: str
    name: str | None = None
    kind: str | None = None
    region: str | None = None


class OrganisationsPage(ReadModel):
    """`GET /organisations`: one page of the register."""

    items: list[OrganisationSummary]
    total: int
    next_after: str | None = None
    previous_before: str | None = None


class Organisation(ReadModel):
    """`GET /organisations/{code}`."""

    code: str
    name: str | None = None
    kind: str | None = None
    region: str | None = None
    partnership_areas: list[str] = Field(default_factory=list)


class LeadNomination(ReadModel):
    """`GET /organisations/{code}/lead/history`: one nomination."""

    account_id: str | None = None
    name: str | None = None
    email: str | None = None


class ServiceSummary(ReadModel):
    """`GET /directory/services`: one service in a list (its ages flattened)."""

    service_id: str
    version: int = 0
    cycle: str = ""
    status: str
    name: str
    service_type: str = ""
    age_min: int | None = None
    age_max: int | None = None
    camhs: bool = False
    camhs_tier: int | None = None


class ServicesPage(ReadModel):
    """`GET /directory/services`: a page of the directory."""

    total: int = 0
    items: list[ServiceSummary] = Field(default_factory=list)


class ClientGroup(ReadModel):
    age_min: int | None = None
    age_max: int | None = None


class Contact(ReadModel):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class ServiceRecord(ReadModel):
    """`GET /directory/services/{id}`: one service record as it stands."""

    service_id: str
    version: int
    cycle: str
    status: str
    name: str
    description: str | None = None
    service_type: str | None = None
    client_group: ClientGroup = Field(default_factory=ClientGroup)
    camhs: bool = False
    camhs_tier: int | None = None
    group_id: str | None = None
    contact: Contact = Field(default_factory=Contact)
    previous_cycle: str | None = None
    withdrawn_reason: str | None = None


class FieldChange(ReadModel):
    """One field of a service that changed since last year's record."""

    field: str
    old: JsonValue = None
    new: JsonValue = None


class ChangesSinceLastYear(ReadModel):
    """`GET /directory/services/{id}/changes-since-last-year`."""

    changes: list[FieldChange] = Field(default_factory=list)


# --- questionnaire -------------------------------------------------------------------------


class Cycle(ReadModel):
    """`GET /cycles` and `/cycles/{cycle}`: a cycle, its phase and its timetable."""

    cycle: str
    phase: str
    previous_cycle: str | None = None
    timetable: dict[str, str | None] = Field(default_factory=dict)
    version: int = 0


class QuestionnaireSummary(ReadModel):
    """`GET /questionnaires?cycle=`: one questionnaire a return owes."""

    id: str
    title: str
    status: str
    group_id: str | None = None
    overall_grade: str | None = None
    delegated_to: str | None = None


class Outstanding(ReadModel):
    id: str
    title: str
    status: str


class NI51Score(ReadModel):
    area: str
    score: int


class ReturnStatus(ReadModel):
    """`GET /cycles/{cycle}/returns/{org}`: what an organisation owes and has done."""

    cycle: str
    organisation_id: str
    phase: str = ""
    entry_ends: str | None = None
    days_to_deadline: int = 0
    extension_until: str | None = None
    signed_off_at: str | None = None
    questionnaires_issued: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    outstanding: list[Outstanding] = Field(default_factory=list)
    ni51: list[NI51Score] = Field(default_factory=list)
    can_sign_off: bool = False


class SignedOff(ReadModel):
    """`POST /cycles/{cycle}/returns/{org}/sign-off`."""

    signed_off_at: str | None = None
    questionnaires_submitted: int | None = None
    answers_count: int | None = None


class Option(TypedDict):
    value: str
    label: str


class Question(TypedDict, total=False):
    """One question of a rendering, with its answer and whether the answers show it."""

    id: Required[str]
    type: Required[str]
    text: Required[str]
    required: bool
    visible: bool
    answer: JsonValue
    help: str | None
    options: list[Option]
    levels: dict[str, str]
    criteria: dict[str, str]
    evidence: list[str]
    show_if: str
    multiline: bool


class Section(TypedDict, total=False):
    id: Required[str]
    title: str
    help: str | None
    grade: str | None
    visible: bool
    questions: list[Question]


class Problem(TypedDict, total=False):
    """An answer the rules refuse or miss: which question, and why."""

    question: str
    reason: str
    rule: str


class Rule(TypedDict, total=False):
    """A cross-field rule (sum_equals: parts and total; less_or_equal: left and right)."""

    id: Required[str]
    kind: Required[str]
    message: str
    parts: list[str]
    total: str
    left: str
    right: str


class Subject(TypedDict, total=False):
    kind: str
    id: str | None


class DelegationState(TypedDict, total=False):
    """Where a questionnaire's delegation stands, as its lead sees it."""

    id: str
    email: str
    status: str
    expires_at: str | None
    comment: str | None


class Grades(TypedDict, total=False):
    overall: str | None
    topics: dict[str, str | None]


class QuestionnaireView(TypedDict, total=False):
    """`GET /questionnaires/{id}` (or the delegate's, or a sandbox rendering): the
    questionnaire as people see it and where it stands."""

    id: str
    title: str
    definition: str
    definition_title: str
    cycle: str
    organisation_id: str
    #: The organisation's name as the questionnaire service knows it (None until it does).
    organisation_name: str | None
    subject: Subject
    status: str
    version: int
    can_edit: bool
    description: str | None
    entry_ends: str | None
    #: When the organisation's return was signed off (nothing in it changes until reopened).
    signed_off_at: str | None
    comment_from_lead: str | None
    delegation: DelegationState | None
    sections: list[Section]
    missing: list[Problem]
    warnings: list[Problem]
    errors: list[Problem]
    grades: Grades | None
    rules: list[Rule]


class Delegation(ReadModel):
    """`GET /questionnaires/{id}/delegations`: one emailed link."""

    id: str
    email: str
    status: str
    expires_at: str | None = None


class SkippedAnswer(ReadModel):
    question: str
    reason: str


class LastYearOffer(ReadModel):
    """`GET /questionnaires/{id}/last-year`: what bringing a carried-forward service's answers
    in from last cycle would do, or why it cannot (`available` false, with the `reason`)."""

    available: bool
    reason: str | None = None
    cycle: str | None = None
    unanswered: list[str] = Field(default_factory=list)
    replacing: list[str] = Field(default_factory=list)
    same: list[str] = Field(default_factory=list)
    skipped: list[SkippedAnswer] = Field(default_factory=list)
    answers: dict[str, JsonValue] = Field(default_factory=dict)


class BroughtIn(ReadModel):
    """`POST /questionnaires/{id}/last-year`: which answers were brought in, from when."""

    brought_in_from: str
    changed: list[str]
    version: int


class Definition(ReadModel):
    """`GET /definitions`: a questionnaire the sandbox can try."""

    ref: str
    title: str
    questions: int


# --- reporting -----------------------------------------------------------------------------


class ReportListing(ReadModel):
    """`GET /reports`: one report the person may run."""

    name: str
    title: str
    description: str | None = ""
    scope: str | None = None
    needs_cycle: bool = True
    #: Area and organisation reports: "any" subject may be picked, or only the person's
    #: "own" organisation; None for national reports.
    subject: str | None = None
    #: Companion reports (names); the description names them by title, in quotes.
    see_also: list[str] = Field(default_factory=list)


class SubjectChoice(ReadModel):
    """An area or organisation a report can be about, as a picker offers it."""

    code: str
    name: str
    region: str | None = None


class SubjectChoices(ReadModel):
    """`GET /reports/{name}/subjects`: the first matches, and how many match in all."""

    subjects: list[SubjectChoice]
    total: int


class ReportFile(ReadModel):
    """A report's CSV/XLSX download as the service sent it."""

    content: bytes
    content_type: str | None = None
    content_disposition: str | None = None


# --- notification --------------------------------------------------------------------------


class RecordedReminders(ReadModel):
    """How many reminders one offset of the schedule recorded, sent and failed."""

    days_before: int
    in_schedule: bool = True
    recorded: int = 0
    sent: int = 0
    failed: int = 0


class DueOrganisation(ReadModel):
    organisation_id: str
    name: str | None = None
    days_before: int


class NextReminders(ReadModel):
    """The next reminders due: when, to how many, and the first organisations."""

    due_at: str
    count: int
    organisations: list[DueOrganisation] = Field(default_factory=list)


class Reminders(ReadModel):
    """`GET /reminders/{cycle}`: a cycle's reminder schedule and what it has sent."""

    cycle: str
    days_before: list[int] = Field(default_factory=list)
    default_schedule: bool = True
    schedule_set_by: str | None = None
    schedule_set_at: str | None = None
    data_entry_closes: str | None = None
    recorded: list[RecordedReminders] = Field(default_factory=list)
    next: NextReminders | None = None


class BulletinFilter(ReadModel):
    regions: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    organisation_ids: list[str] = Field(default_factory=list)
    #: A cycle: only leads whose return for it is not signed off when the bulletin is sent.
    not_signed_off_in: str | None = None


class Delivery(ReadModel):
    pending: int = 0
    sent: int = 0
    failed: int = 0


class Bulletin(ReadModel):
    """`GET /bulletins`: one bulletin, sent, scheduled (`send_at`; its recipients are worked
    out when it is sent) or cancelled, and how its delivery goes."""

    id: str = ""
    subject: str | None = None
    body: str | None = None
    filter: BulletinFilter | None = None
    status: str = "sent"
    send_at: str | None = None
    recipients: int | None = None
    delivery: Delivery = Field(default_factory=Delivery)
    created_at: str | None = None
    created_by: str | None = None
    sent_at: str | None = None
    sent_by: str | None = None
    cancelled_at: str | None = None
    cancelled_by: str | None = None

    @property
    def scheduled(self) -> bool:
        return self.status == "scheduled"


class Notification(ReadModel):
    """`GET /notifications`: one email in the delivery log (a subject is null until the
    email is written, for one)."""

    created_at: str | None = None
    kind: str | None = None
    recipient: str | None = None
    organisation_id: str | None = None
    subject: str | None = None
    status: str | None = None
    attempts: int | None = None
    last_error: str | None = None


class NotificationsPage(ReadModel):
    items: list[Notification] = Field(default_factory=list)
    next: str | None = None
    previous: str | None = None
