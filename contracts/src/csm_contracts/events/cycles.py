"""Events about a mapping cycle and its timetable, and about one organisation's return.

A cycle's stream is `cycle-<cycle>` and its events are national (key `NATIONAL`):
`CycleScheduled`, `CycleTimetableChanged`, `CyclePhaseChanged` and `CycleOpened` (in
`csm_contracts.events.questionnaire`). An organisation's return for a cycle is the stream
`return-<cycle>-<organisation>`: `ExtensionGranted`, `ReturnReopened`, `CycleSignedOff` and
`SignOffWithdrawn`.
"""

from __future__ import annotations

import itertools
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..registry import REGISTRY, QuestionnaireEvent
from .questionnaire import NATIONAL

CYCLE_PATTERN = r"^\d{4}-\d{2}$"


class Phase(StrEnum):
    """Where a cycle stands, in order. Each phase starts at its timetable date."""

    SCHEDULED = "scheduled"
    SANDBOX = "sandbox"
    DATA_ENTRY = "data-entry"
    SUMMARY_REPORTS = "summary-reports"
    CLOSED = "closed"
    PUBLISHED = "published"


class Timetable(BaseModel):
    """When each phase of a cycle starts. `data_entry_closes` is the CQC sign-off deadline."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sandbox_opens: AwareDatetime
    data_entry_opens: AwareDatetime
    summary_reports: AwareDatetime
    data_entry_closes: AwareDatetime
    publication: AwareDatetime

    @model_validator(mode="after")
    def _in_order(self) -> Timetable:
        dates = [
            ("sandbox_opens", self.sandbox_opens),
            ("data_entry_opens", self.data_entry_opens),
            ("summary_reports", self.summary_reports),
            ("data_entry_closes", self.data_entry_closes),
            ("publication", self.publication),
        ]
        for (earlier, a), (later, b) in itertools.pairwise(dates):
            if not a < b:
                raise ValueError(f"{later} must come after {earlier}")
        return self


class _CycleEvent(QuestionnaireEvent):
    organisation_id: str = Field(default=NATIONAL, description="always NATIONAL; the Kafka key")
    cycle: str = Field(pattern=CYCLE_PATTERN, examples=["2009-10"])


@REGISTRY.register
class CycleScheduled(_CycleEvent):
    """The national team scheduled a cycle and its timetable."""

    previous_cycle: str | None = Field(default=None, pattern=CYCLE_PATTERN)
    timetable: Timetable


@REGISTRY.register
class CycleTimetableChanged(_CycleEvent):
    """The national team moved dates of a cycle's timetable."""

    old_timetable: Timetable
    new_timetable: Timetable
    reason: str = Field(min_length=1, max_length=1000)


@REGISTRY.register
class CyclePhaseChanged(_CycleEvent):
    """A cycle moved into a new phase, by the clock (its timetable) or by national action."""

    old_phase: Phase
    phase: Phase
    changed_at: AwareDatetime
    by_clock: bool = Field(description="true: the timetable's date came; false: national action")
    reason: str | None = Field(default=None, max_length=1000)


class _ReturnEvent(QuestionnaireEvent):
    organisation_id: str = Field(description="the organisation whose return it is; the Kafka key")
    cycle: str = Field(pattern=CYCLE_PATTERN)


@REGISTRY.register
class ExtensionGranted(_ReturnEvent):
    """The organisation may go on entering data after the close, until `until`."""

    until: AwareDatetime
    reason: str = Field(min_length=1, max_length=1000)


@REGISTRY.register
class ReturnReopened(_ReturnEvent):
    """The national team reopened the organisation's return (after sign-off or the close)."""

    reason: str = Field(min_length=1, max_length=1000)
    was_signed_off_at: AwareDatetime | None = Field(
        default=None, description="the sign-off this reopening undid, if any"
    )


@REGISTRY.register
class SignOffWithdrawn(_ReturnEvent):
    """A sign-off no longer stands: the national team reopened the signed-off return.

    Published on the public sign-off topic beside the sign-off it withdraws, so a regulator
    learns of the reopening. It is recorded with the `ReturnReopened` that caused it (same
    transaction, same stream). The organisation's next sign-off, if any, names the one it
    supersedes by its `signed_off_at` (`CycleSignedOff.supersedes`), which is this event's
    `signed_off_at`.
    """

    signed_off_at: AwareDatetime = Field(
        description="signed_off_at of the withdrawn sign-off (what the next one supersedes)"
    )
    sign_off_event_id: str | None = Field(
        default=None,
        description="the event id (`ce_id`) of the withdrawn sign-off, when it is known",
    )
    reason: str = Field(min_length=1, max_length=1000, description="why the return was reopened")
    withdrawn_by: str = Field(description="who reopened the return (an actor, e.g. user:<id>)")
    withdrawn_at: AwareDatetime
