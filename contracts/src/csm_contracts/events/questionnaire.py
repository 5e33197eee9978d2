"""Events the questionnaire service publishes."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from ..registry import REGISTRY, QuestionnaireEvent


@REGISTRY.register
class QuestionnaireDelegated(QuestionnaireEvent):
    """A questionnaire was delegated to someone by email. The link's token is never in here."""

    cycle: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2009-10"])
    questionnaire_id: str
    delegation_id: str
    delegate_email: EmailStr
    delegated_by: str
    expires_at: AwareDatetime
    title: str | None = Field(default=None, description="the questionnaire's title, for the email")
    message: str | None = Field(
        default=None, max_length=2000, description="the lead's note to the delegate"
    )
    supersedes: str | None = Field(
        default=None, description="the delegation this one replaces (re-delegation)"
    )


class Scorecard(BaseModel):
    """A commissioning self-assessment's balanced scorecard: each topic's grade (None for a
    topic with no answers) and the overall grade (None unless all six topics are graded).
    Grades are `red`, `amber`, `yellow`, `pale-green`, `green` or `dark-green`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topics: dict[str, str | None]
    overall: str | None


@REGISTRY.register
class ResponseSubmitted(QuestionnaireEvent):
    """A questionnaire's answers were submitted as complete."""

    cycle: str = Field(pattern=r"^\d{4}-\d{2}$")
    questionnaire_id: str
    definition: str = Field(description="definition id and version, e.g. camhs-partnership@3")
    submitted_by: str
    answers: dict[str, Any]
    subject_kind: str | None = Field(
        default=None, description="what the questionnaire is about: service, area or organisation"
    )
    subject_id: str | None = Field(default=None, description="the service id or area code")
    scorecard: Scorecard | None = Field(
        default=None, description="a self-assessment's grades at submission (DESIGN §7)"
    )


class NI51AreaScore(BaseModel):
    """NI 51 for one LA partnership area: four questions scored 1-4, summed 4-16."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    area: str
    learning_disabilities: int = Field(ge=1, le=4)
    urgent_24_hour_cover: int = Field(ge=1, le=4)
    age_16_17: int = Field(ge=1, le=4)
    early_intervention: int = Field(ge=1, le=4)
    score: int = Field(ge=4, le=16, description="the sum of the four answers")

    @model_validator(mode="after")
    def _score_is_the_sum(self) -> NI51AreaScore:
        parts = (
            self.learning_disabilities
            + self.urgent_24_hour_cover
            + self.age_16_17
            + self.early_intervention
        )
        if self.score != parts:
            raise ValueError(f"score {self.score} is not the sum of the four answers ({parts})")
        return self


@REGISTRY.register
class CycleSignedOff(QuestionnaireEvent):
    """An organisation signed off its return for a cycle: what a regulator needs, complete."""

    cycle: str = Field(pattern=r"^\d{4}-\d{2}$")
    signed_off_at: AwareDatetime
    signed_off_by: str
    questionnaires_submitted: int = Field(ge=0)
    ni51: list[NI51AreaScore] = Field(default_factory=list)
    stream_heads: dict[str, str] = Field(
        default_factory=dict, description="stream id -> hash at its head when signed off"
    )
    supersedes: AwareDatetime | None = Field(
        default=None, description="signed_off_at of the sign-off this one replaces"
    )
    organisation_name: str | None = None
    questionnaires_issued: int | None = Field(
        default=None, ge=0, description="questionnaires the organisation owed this cycle"
    )
    answers_count: int | None = Field(
        default=None, ge=0, description="answers in the submitted questionnaires"
    )


#: The `organisation_id` (Kafka key) of events about a whole cycle rather than one organisation.
NATIONAL = "NATIONAL"


@REGISTRY.register
class CycleOpened(QuestionnaireEvent):
    """A new mapping cycle opened for data entry (national: every organisation at once).

    `organisation_id` is the sentinel `NATIONAL` (`csm_contracts.events.questionnaire.NATIONAL`):
    the event concerns no single organisation, and one key keeps cycle events in order.
    Registration carries last cycle's active services forward when it receives this.
    """

    organisation_id: str = Field(
        default=NATIONAL, description="always NATIONAL: a cycle-wide event; the Kafka key"
    )
    cycle: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2010-11"])
    previous_cycle: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}$",
        description="the cycle whose services carry forward (none for the first cycle)",
    )
    opened_at: AwareDatetime
