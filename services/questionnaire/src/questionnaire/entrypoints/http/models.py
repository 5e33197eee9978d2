"""What the questionnaire API answers, as OpenAPI documents it.

Fields are declared in the order the bodies have them (a model with several bases lists the
last base's fields first), so a body serialised through its model keeps its key order.

The bodies are built by the application as plain JSON (the hot paths serialise them with
orjson themselves); these models describe them. Keys a body has only sometimes are optional
here, and routes that validate through a model answer with `response_model_exclude_unset`, so
a key the body did not have is not added.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from csm_contracts.events import NI51AreaScore
from csm_contracts.events.cycles import Timetable

# --- questionnaires ------------------------------------------------------------------------------


class Subject(BaseModel):
    kind: str = Field(description="organisation, area or service")
    id: str


class Problem(BaseModel):
    """What is wrong with one question's answer (or a rule over several)."""

    question: str
    reason: str
    rule: str | None = None


class Grades(BaseModel):
    """The self-assessment's grade per topic (section) and overall (null: not graded yet)."""

    topics: dict[str, str | None]
    overall: str | None


class Option(BaseModel):
    value: str
    label: str


class QuestionView(BaseModel):
    id: str
    type: str
    text: str
    required: bool
    visible: bool = Field(description="shown under the answers given")
    answer: Any = None
    help: str | None = None
    options: list[Option] | None = None
    min: int | float | str | None = None
    max: int | float | str | None = None
    levels: dict[str, str] | None = None
    criteria: dict[str, str] | None = None
    evidence: list[str] | None = None
    show_if: str | None = None
    max_length: int | None = None
    multiline: bool | None = None


class SectionView(BaseModel):
    id: str
    title: str
    help: str | None = None
    objectives: list[str] | None = None
    visible: bool
    questions: list[QuestionView]
    grade: str | None = None


class DelegationView(BaseModel):
    id: str
    email: str
    status: str = Field(description="active, returned, accepted or revoked")
    expires_at: str
    comment: str | None


class Evaluated(BaseModel):
    """What the answers come to."""

    missing: list[Problem]
    warnings: list[Problem]
    answered: int
    questions_shown: int
    grades: Grades | None = None


class RuleView(BaseModel):
    """A cross-field rule, so a page can show a running total as people type."""

    id: str
    kind: str = Field(description="sum_equals or less_or_equal")
    message: str
    parts: list[str] | None = None
    total: str | None = None
    left: str | None = None
    right: str | None = None


class Rendered(BaseModel):
    """A definition filled in with answers, and what they come to (fields in the body's order)."""

    definition: str = Field(description="id@version")
    kind: str
    definition_title: str
    sections: list[SectionView]
    missing: list[Problem]
    warnings: list[Problem]
    answered: int
    questions_shown: int
    grades: Grades | None = None
    description: str | None = None
    rules: list[RuleView] | None = None


class QuestionnaireState(BaseModel):
    """Where a questionnaire stands, as the caller sees it."""

    id: str
    cycle: str
    organisation_id: str
    organisation_name: str | None = Field(
        default=None, description="the organisation's name (null until registration's is heard)"
    )
    title: str
    subject: Subject
    group_id: str | None
    status: str
    version: int
    submitted_at: str | None
    submitted_by: str | None
    phase: str
    entry_ends: str
    signed_off_at: str | None
    can_edit: bool
    ni51: NI51AreaScore | None
    delegation: DelegationView | None = Field(
        default=None, description="the latest delegation (not shown to delegates)"
    )
    comment_from_lead: str | None = Field(
        default=None, description="to a delegate: the lead's comment when sending it back"
    )


class QuestionnaireView(QuestionnaireState, Rendered):
    """The whole questionnaire: every question with its answer, and where it stands (the
    rendering's fields first, as in the body)."""


class SavedView(Evaluated, QuestionnaireState):
    """A save's reply: where it stands and what the answers come to, without the questions."""

    changed: list[str] = Field(description="the questions whose answers this save changed")
    answers: dict[str, Any]
    visible: list[str] = Field(description="the questions shown now")


class SkippedAnswer(BaseModel):
    question: str
    reason: str


class LastYearOffer(BaseModel):
    """What bringing last year's answers into a carried-forward service's questionnaire would
    do now, or why it cannot (`available` false, with the `reason`)."""

    available: bool
    reason: str | None = Field(default=None, description="why it cannot be done now")
    cycle: str | None = Field(default=None, description="the cycle the answers would come from")
    from_questionnaire_id: str | None = None
    unanswered: list[str] = Field(
        default_factory=list, description="questions not answered now that it would answer"
    )
    replacing: list[str] = Field(
        default_factory=list,
        description="answered questions whose answers differ from last year's: replaced only "
        "when the person confirms (replace_answered)",
    )
    same: list[str] = Field(
        default_factory=list, description="questions already answered as last year"
    )
    skipped: list[SkippedAnswer] = Field(
        default_factory=list, description="last year's answers that cannot be brought in, and why"
    )
    answers: dict[str, Any] = Field(
        default_factory=dict,
        description="each answer in unanswered and replacing, as it would be brought in",
    )


class BroughtInView(SavedView):
    """A bring-in's reply: a save's, with where the answers came from."""

    brought_in_from: str = Field(description="the cycle the answers came from")
    skipped: list[SkippedAnswer]


class QuestionnaireSummary(BaseModel):
    id: str
    cycle: str
    organisation_id: str
    title: str
    definition: str
    kind: str
    subject: Subject
    group_id: str | None
    status: str
    version: int
    delegated_to: str | None
    overall_grade: str | None = Field(default=None, description="self-assessments only")


class HistoryItem(BaseModel):
    """One change, with the event's own fields (ids and answers aside)."""

    model_config = ConfigDict(extra="allow")

    version: int
    event: str
    occurred_at: str
    actor: str


class Delegated(BaseModel):
    delegation: DelegationView
    version: int


class DelegationRow(BaseModel):
    id: str
    questionnaire_id: str
    email: str
    status: str
    expires_at: str
    delegated_by: str
    created_at: str
    ended_at: str | None


# --- sandbox and definitions ---------------------------------------------------------------------


class DefinitionSummary(BaseModel):
    ref: str
    id: str
    version: int
    kind: str
    title: str
    questions: int


class SandboxView(Rendered):
    ni51: NI51AreaScore | None
    errors: list[Problem] = Field(description="answers set aside as invalid")
    saved: bool = Field(description="always false: the sandbox saves nothing")


# --- cycles and returns --------------------------------------------------------------------------


class CycleView(BaseModel):
    cycle: str
    version: int
    phase: str
    previous_cycle: str | None
    timetable: Timetable


class ReturnView(BaseModel):
    cycle: str
    organisation_id: str
    version: int
    extension_until: str | None
    reopened: bool
    signed_off_at: str | None
    signed_off_by: str | None


class ReturnRow(ReturnView):
    sign_offs: int
    updated_at: str


class Outstanding(BaseModel):
    id: str
    title: str
    status: str


class ReturnStatus(BaseModel):
    cycle: str
    organisation_id: str
    phase: str
    deadline: str
    entry_ends: str
    days_to_deadline: int
    extension_until: str | None
    reopened: bool
    signed_off_at: str | None
    signed_off_by: str | None
    questionnaires_issued: int
    by_status: dict[str, int]
    outstanding: list[Outstanding]
    ni51: list[NI51AreaScore]
    can_sign_off: bool
