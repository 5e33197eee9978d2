"""The portal's own read models of the services' answers: what its pages use of each JSON
body, parsed once in the HTTP adapters so that pages and templates get typed objects.

A service never imports another, so these are the portal's models of the JSON, not the
services' own classes. They are tolerant (`extra="ignore"`): a field a service adds does no
harm, and a page reads only what is declared here. Bodies the pages treat generically (a
questionnaire's sections and questions, which the what-if rendering overlays; a report's
tables, drawn column by column) stay JSON objects (`JsonObject`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    name: str
    kind: str
    region: str


class OrganisationsPage(ReadModel):
    """`GET /organisations`: one page of the register."""

    items: list[OrganisationSummary]
    total: int
    next_after: str | None = None


class Organisation(ReadModel):
    """`GET /organisations/{code}`."""

    code: str
    name: str | None = None


class LeadNomination(ReadModel):
    """`GET /organisations/{code}/lead/history`: one nomination."""

    name: str | None = None
    email: str | None = None


# --- questionnaire -------------------------------------------------------------------------


class Cycle(ReadModel):
    """`GET /cycles` and `/cycles/{cycle}`: a cycle, its phase and its timetable."""

    cycle: str
    phase: str
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


class Delegation(ReadModel):
    """`GET /questionnaires/{id}/delegations`: one emailed link."""

    id: str
    email: str
    status: str
    expires_at: str | None = None


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
    description: str = ""
    scope: str
    needs_cycle: bool = True


class ReportFile(ReadModel):
    """A report's CSV/XLSX download as the service sent it."""

    content: bytes
    content_type: str | None = None
    content_disposition: str | None = None
