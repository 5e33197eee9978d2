"""Events about one questionnaire instance: issued, answered, delegated, returned, submitted.

One stream per instance, `questionnaire-<questionnaire_id>`. An instance belongs to a cycle and
an organisation (the Kafka key) and is about a subject: a mapped service, an LA partnership
area, or the organisation itself. `ResponseSubmitted` and `QuestionnaireDelegated` live in
`csm_contracts.events.questionnaire`.

No event carries a delegate's link or its token: the token is derived from the delegation id
with a key only the questionnaire and notification services hold.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..registry import REGISTRY, QuestionnaireEvent

CYCLE_PATTERN = r"^\d{4}-\d{2}$"


class SubjectKind(StrEnum):
    """What a questionnaire instance is about."""

    SERVICE = "service"
    AREA = "area"
    ORGANISATION = "organisation"


class AnsweredVia(StrEnum):
    """Who typed the answers: someone signed in, or a delegate through an emailed link."""

    ACCOUNT = "account"
    DELEGATE = "delegate"


class _InstanceEvent(QuestionnaireEvent):
    organisation_id: str = Field(description="the organisation that owes it; the Kafka key")
    cycle: str = Field(pattern=CYCLE_PATTERN, examples=["2009-10"])
    questionnaire_id: str


@REGISTRY.register
class QuestionnaireIssued(_InstanceEvent):
    """An organisation now owes this questionnaire for the cycle."""

    definition: str = Field(description="definition id and version, e.g. service@1")
    title: str
    subject_kind: SubjectKind
    subject_id: str = Field(description="the service id, area code or organisation code")
    group_id: str | None = Field(default=None, description="the service group it falls in")


class AnswerChange(BaseModel):
    """One answer's change: the value before and after (null: unanswered)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    question: str
    old: Any = None
    new: Any = None


class BroughtIn(BaseModel):
    """Where answers brought in as a starting point came from: the same service's
    questionnaire in an earlier cycle (the service was carried forward from it)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    cycle: str = Field(pattern=CYCLE_PATTERN, examples=["2009-10"])
    questionnaire_id: str = Field(description="last cycle's questionnaire the answers are from")


@REGISTRY.register
class AnswersSaved(_InstanceEvent):
    """Answers were saved (as a draft): every change with its old and new value.

    `brought_in_from` is set when every answer in the event was brought in, at the person's
    choice, from an earlier cycle's questionnaire (a starting point to check), rather than
    typed: the history says so."""

    # Version 1, kept as published (its docstring is its schema's description): read as
    # `AnswersSavedV2` through the upcaster in `csm_kernel.upcasting`, and still written while
    # `CSM_EVENT_WRITE_VERSIONS` pins it (docs/contracts.md, "Versioning an event").

    changes: list[AnswerChange] = Field(min_length=1)
    via: AnsweredVia = AnsweredVia.ACCOUNT
    delegation_id: str | None = Field(default=None, description="set when a delegate saved")
    brought_in_from: BroughtIn | None = Field(
        default=None, description="set when the answers were brought in from an earlier cycle"
    )


@REGISTRY.register
class AnswersSavedV2(_InstanceEvent):
    """Answers were saved (as a draft): every change with its old and new value, and how many
    of the questionnaire's questions held an answer after the save.

    Version 2 of `questionnaire.AnswersSaved`: version 1 (with `brought_in_from`, set when
    every answer was brought in from an earlier cycle's questionnaire) plus `answered`, which
    every producer must give. A version 1 event is read as version 2 with `answered` null (not
    recorded then).
    """

    EVENT_TYPE: ClassVar[str] = "questionnaire.AnswersSaved"
    VERSION: ClassVar[int] = 2

    changes: list[AnswerChange] = Field(min_length=1)
    via: AnsweredVia = AnsweredVia.ACCOUNT
    delegation_id: str | None = Field(default=None, description="set when a delegate saved")
    brought_in_from: BroughtIn | None = Field(
        default=None, description="set when the answers were brought in from an earlier cycle"
    )
    answered: int | None = Field(
        ge=0,
        description=(
            "questions holding an answer after this save (a hidden follow-up's kept answer"
            " included); null for a version 1 event"
        ),
    )


@REGISTRY.register
class DelegationRevoked(_InstanceEvent):
    """A delegate's link stopped working (revoked by the lead, or replaced)."""

    delegation_id: str
    delegate_email: str
    reason: str | None = Field(default=None, max_length=1000)


@REGISTRY.register
class QuestionnaireReturned(_InstanceEvent):
    """The delegate returned the questionnaire to the lead for review."""

    delegation_id: str
    delegate_email: str
    comment: str | None = Field(default=None, max_length=2000)


@REGISTRY.register
class DelegationAccepted(_InstanceEvent):
    """The lead accepted what the delegate returned; the delegate's link stops working."""

    delegation_id: str
    delegate_email: str


@REGISTRY.register
class QuestionnaireSentBack(_InstanceEvent):
    """The lead sent the returned questionnaire back to the delegate with a comment."""

    delegation_id: str
    delegate_email: str
    comment: str = Field(min_length=1, max_length=2000)


@REGISTRY.register
class SubmissionWithdrawn(_InstanceEvent):
    """The lead took a submitted questionnaire back to change it (before sign-off)."""

    reason: str = Field(min_length=1, max_length=1000)


@REGISTRY.register
class QuestionnaireCancelled(_InstanceEvent):
    """The questionnaire is no longer owed (e.g. its service was withdrawn)."""

    reason: str = Field(min_length=1, max_length=1000)


@REGISTRY.register
class QuestionnaireLocked(_InstanceEvent):
    """The organisation's return was signed off: nothing in this questionnaire changes until
    the national team reopens the return. Appended to every signed-off questionnaire's stream
    in the sign-off's transaction, so a change decided before it fails its version check."""

    signed_off_at: datetime = Field(description="the sign-off that locked it")
    signed_off_by: str


@REGISTRY.register
class QuestionnaireUnlocked(_InstanceEvent):
    """The national team reopened the return: the questionnaire may change again."""

    reason: str = Field(min_length=1, max_length=1000)
