"""Signing an organisation's return off: the rule, decided over the return as it stands.

A return can be signed off once, in data entry (or an extension or a reopening), when it owes
at least one questionnaire and every questionnaire it owes (cancelled ones aside) is
submitted. Signing off locks each of them (`QuestionnaireLocked` on its stream, at the version
read) and records `CycleSignedOff` on the return's stream. That event carries the hash at the
head of each of those streams, known only once the locks are appended, so the decision gives
the locks now and the event from the heads later (`SignOff.event`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from csm_contracts.events import NI51AreaScore
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.registry import EventPayload
from csm_kernel.errors import Conflict

from . import answers as rules
from .cycle import CycleState, ReturnState, ensure_open_for_entry, return_stream
from .definition import Definition, DefinitionKind
from .errors import ReturnLocked
from .questionnaire import Questionnaire, Status, evolve, lock

#: A definition by `id@version`.
Definitions = Callable[[str], Definition]


@dataclass(frozen=True)
class SignOff:
    """A sign-off decided: the locks to append, and what the sign-off event will say."""

    cycle: str
    organisation_id: str
    at: datetime
    by: str
    #: Each questionnaire of the return as read, with the events that lock it.
    locks: tuple[tuple[Questionnaire, tuple[EventPayload, ...]], ...]
    answers_count: int
    ni51: tuple[NI51AreaScore, ...]
    organisation_name: str | None
    supersedes: datetime | None

    @property
    def streams(self) -> list[str]:
        """The streams whose heads the event records: each questionnaire's, then the return's."""
        return [q.stream_id for q, _ in self.locks] + [
            return_stream(self.cycle, self.organisation_id)
        ]

    def locked(self) -> list[Questionnaire]:
        """The questionnaires once their locks are appended."""
        out = []
        for q, events in self.locks:
            for event in events:
                q = evolve(q, event, self.at)
            out.append(q)
        return out

    def event(self, stream_heads: Mapping[str, str]) -> CycleSignedOff:
        """The sign-off event, given the hash at the head of each of `streams` after the locks."""
        return CycleSignedOff(
            organisation_id=self.organisation_id,
            cycle=self.cycle,
            signed_off_at=self.at,
            signed_off_by=self.by,
            questionnaires_submitted=len(self.locks),
            questionnaires_issued=len(self.locks),
            answers_count=self.answers_count,
            ni51=list(self.ni51),
            stream_heads=dict(stream_heads),
            supersedes=self.supersedes,
            organisation_name=self.organisation_name,
        )


def live(questionnaires: Sequence[Questionnaire]) -> list[Questionnaire]:
    """What the return owes: its questionnaires but the cancelled ones."""
    return [q for q in questionnaires if q.status is not Status.CANCELLED]


def outstanding(questionnaires: Sequence[Questionnaire]) -> list[Questionnaire]:
    """What the return still owes: its live questionnaires not yet submitted."""
    return [q for q in live(questionnaires) if q.status is not Status.SUBMITTED]


def ni51_scores(
    questionnaires: Sequence[Questionnaire], definitions: Definitions
) -> list[NI51AreaScore]:
    """NI 51 per area, from the return's CAMHS partnership questionnaires that have it."""
    scores = []
    for q in questionnaires:
        definition = definitions(q.definition)
        if definition.kind is DefinitionKind.CAMHS_PARTNERSHIP:
            score = rules.ni51(definition, q.subject_id, q.answers)
            if score is not None:
                scores.append(score)
    return sorted(scores, key=lambda s: s.area)


def decide_sign_off(
    cycle: CycleState,
    ret: ReturnState,
    questionnaires: Sequence[Questionnaire],
    definitions: Definitions,
    *,
    now: datetime,
    by: str,
    organisation_name: str | None = None,
    supersedes: datetime | None = None,
) -> SignOff:
    """Sign the return off now, or raise why not: `ReturnLocked` (already signed off, or data
    entry not open for it), `Conflict` (nothing owed yet, or something not submitted)."""
    if ret.signed_off_at is not None:
        raise ReturnLocked(
            f"{ret.organisation_id}'s {ret.cycle} return was already signed off at "
            f"{ret.signed_off_at.isoformat()}"
        )
    ensure_open_for_entry(cycle, ret, now)
    owed = live(questionnaires)
    if not owed:
        raise Conflict(f"{ret.organisation_id} owes no questionnaires in {ret.cycle} yet")
    missing = outstanding(owed)
    if missing:
        raise Conflict(
            f"{len(missing)} questionnaire(s) not submitted yet",
            details=[{"field": q.id, "reason": f"{q.title}: {q.status.value}"} for q in missing],
        )
    return SignOff(
        cycle=ret.cycle,
        organisation_id=ret.organisation_id,
        at=now,
        by=by,
        locks=tuple((q, tuple(lock(q, now, by))) for q in owed),
        answers_count=sum(rules.answer_count(definitions(q.definition), q.answers) for q in owed),
        ni51=tuple(ni51_scores(owed, definitions)),
        organisation_name=organisation_name,
        supersedes=supersedes,
    )
