"""One questionnaire instance: its state, rebuilt from its events, and the decisions on it.

Decisions take the current state and return the events to append (the caller appends them at
`state.version`); `evolve` is the only place state changes, for replay and after a decision
alike. Status: `not-started` → `in-progress` ⇄ `delegated` → `returned` → … → `submitted`
(or `cancelled`). The lead may keep editing while a delegate has it: optimistic concurrency on
the stream version stops either overwriting the other unseen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from csm_contracts.events.questionnaire import QuestionnaireDelegated, ResponseSubmitted, Scorecard
from csm_contracts.events.responses import (
    AnswerChange,
    AnsweredVia,
    AnswersSavedV2,
    DelegationAccepted,
    DelegationRevoked,
    QuestionnaireCancelled,
    QuestionnaireIssued,
    QuestionnaireLocked,
    QuestionnaireReturned,
    QuestionnaireSentBack,
    QuestionnaireUnlocked,
    SubjectKind,
    SubmissionWithdrawn,
)
from csm_contracts.registry import EventPayload
from csm_kernel.errors import InvalidInput
from csm_kernel.event_sourcing import Recorded

from . import answers as rules
from .definition import Definition
from .errors import WrongState

NAMESPACE = uuid.UUID("6f1d9a52-4c1e-4a8e-9f57-0c1b2a3d4e5f")


class Status(StrEnum):
    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    DELEGATED = "delegated"
    RETURNED = "returned"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"


class DelegationStatus(StrEnum):
    ACTIVE = "active"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


def questionnaire_id(cycle: str, organisation_id: str, definition_id: str, subject: str) -> str:
    """The same questionnaire always gets the same id, so issuing twice issues once."""
    return str(uuid.uuid5(NAMESPACE, f"{cycle}/{organisation_id}/{definition_id}/{subject}"))


def stream_id_for(questionnaire_id: str) -> str:
    return f"questionnaire-{questionnaire_id}"


@dataclass(frozen=True)
class Delegation:
    id: str
    email: str
    status: DelegationStatus
    expires_at: datetime
    comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "status": self.status.value,
            "expires_at": self.expires_at.isoformat(),
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delegation:
        return cls(
            id=data["id"],
            email=data["email"],
            status=DelegationStatus(data["status"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            comment=data.get("comment"),
        )


@dataclass(frozen=True)
class Questionnaire:
    id: str
    cycle: str
    organisation_id: str
    definition: str
    title: str
    subject_kind: SubjectKind
    subject_id: str
    group_id: str | None = None
    version: int = 0
    status: Status = Status.NOT_STARTED
    answers: dict[str, Any] = field(default_factory=dict)
    delegation: Delegation | None = None
    submitted_at: datetime | None = None
    submitted_by: str | None = None
    #: The return is signed off: nothing changes until it is reopened.
    locked: bool = False

    @property
    def stream_id(self) -> str:
        return stream_id_for(self.id)

    def _base(self) -> dict[str, Any]:
        return {
            "organisation_id": self.organisation_id,
            "cycle": self.cycle,
            "questionnaire_id": self.id,
        }


def issued(event: QuestionnaireIssued) -> Questionnaire:
    return Questionnaire(
        id=event.questionnaire_id,
        cycle=event.cycle,
        organisation_id=event.organisation_id,
        definition=event.definition,
        title=event.title,
        subject_kind=event.subject_kind,
        subject_id=event.subject_id,
        group_id=event.group_id,
        version=1,
    )


def evolve(q: Questionnaire, event: EventPayload, at: datetime) -> Questionnaire:
    """The state after one more event (the version moves by one)."""
    v = q.version + 1
    d = q.delegation
    if isinstance(event, AnswersSavedV2):
        answers = dict(q.answers)
        for change in event.changes:
            if change.new is None:
                answers.pop(change.question, None)
            else:
                answers[change.question] = change.new
        status = Status.IN_PROGRESS if q.status is Status.NOT_STARTED else q.status
        return replace(q, version=v, answers=answers, status=status)
    if isinstance(event, QuestionnaireDelegated):
        delegation = Delegation(
            event.delegation_id,
            str(event.delegate_email),
            DelegationStatus.ACTIVE,
            event.expires_at,
            # The lead's note goes to the delegate's page, not only into the email.
            comment=event.message,
        )
        return replace(q, version=v, status=Status.DELEGATED, delegation=delegation)
    if isinstance(event, DelegationRevoked):
        ended = replace(d, status=DelegationStatus.REVOKED) if d else None
        return replace(q, version=v, status=_undelegated(q), delegation=ended)
    if isinstance(event, QuestionnaireReturned):
        ended = replace(d, status=DelegationStatus.RETURNED, comment=event.comment) if d else None
        return replace(q, version=v, status=Status.RETURNED, delegation=ended)
    if isinstance(event, DelegationAccepted):
        ended = replace(d, status=DelegationStatus.ACCEPTED) if d else None
        return replace(q, version=v, status=_undelegated(q), delegation=ended)
    if isinstance(event, QuestionnaireSentBack):
        again = replace(d, status=DelegationStatus.ACTIVE, comment=event.comment) if d else None
        return replace(q, version=v, status=Status.DELEGATED, delegation=again)
    if isinstance(event, ResponseSubmitted):
        return replace(
            q, version=v, status=Status.SUBMITTED, submitted_at=at, submitted_by=event.submitted_by
        )
    if isinstance(event, SubmissionWithdrawn):
        return replace(
            q, version=v, status=Status.IN_PROGRESS, submitted_at=None, submitted_by=None
        )
    if isinstance(event, QuestionnaireCancelled):
        return replace(q, version=v, status=Status.CANCELLED)
    if isinstance(event, QuestionnaireLocked):
        return replace(q, version=v, locked=True)
    if isinstance(event, QuestionnaireUnlocked):
        return replace(q, version=v, locked=False)
    return replace(q, version=v)  # an event this state does not track


def evolve_recorded(q: Questionnaire | None, recorded: Recorded[EventPayload]) -> Questionnaire:
    """`evolve` over a recorded event, from before the first (`None`: it must be the issue)."""
    if q is None:
        if not isinstance(recorded.payload, QuestionnaireIssued):
            raise ValueError(
                f"{recorded.stream_id} starts with {type(recorded.payload).__name__}, "
                "not QuestionnaireIssued"
            )
        return issued(recorded.payload)
    return evolve(q, recorded.payload, recorded.occurred_at)


def _undelegated(q: Questionnaire) -> Status:
    return Status.IN_PROGRESS if q.answers else Status.NOT_STARTED


def replay(events: Iterable[tuple[EventPayload, datetime]]) -> Questionnaire | None:
    """A questionnaire rebuilt from its stream (None if it was never issued)."""
    state: Questionnaire | None = None
    for event, at in events:
        if state is None:
            if isinstance(event, QuestionnaireIssued):
                state = issued(event)
            continue
        state = evolve(state, event, at)
    return state


# --- decisions ----------------------------------------------------------------------------------


def ensure_editable(q: Questionnaire) -> None:
    if q.status is Status.SUBMITTED:
        raise WrongState(f"questionnaire {q.id} is submitted; withdraw the submission to change it")
    if q.status is Status.CANCELLED:
        raise WrongState(f"questionnaire {q.id} was cancelled")


def save_answers(
    q: Questionnaire,
    definition: Definition,
    changes: Mapping[str, Any],
    *,
    delegation_id: str | None = None,
) -> tuple[list[EventPayload], dict[str, Any]]:
    """The events that record these answers (none if nothing changes) and the new answers.

    `AnswerError` (422) lists every bad answer; `WrongState` if it cannot change now."""
    ensure_editable(q)
    if delegation_id is not None:
        _delegate_may_edit(q, delegation_id)
    new_answers, changed = rules.apply(definition, q.answers, changes)
    if not changed:
        return [], new_answers
    event = AnswersSavedV2(
        **q._base(),
        changes=[AnswerChange(question=k, old=old, new=new) for k, (old, new) in changed.items()],
        via=AnsweredVia.DELEGATE if delegation_id else AnsweredVia.ACCOUNT,
        delegation_id=delegation_id,
        answered=len(new_answers),
    )
    return [event], new_answers


def _delegate_may_edit(q: Questionnaire, delegation_id: str) -> None:
    d = q.delegation
    if d is None or d.id != delegation_id or d.status is not DelegationStatus.ACTIVE:
        raise WrongState("this questionnaire is no longer with you: it was returned to the lead")


def delegate(
    q: Questionnaire, email: str, by: str, expires_at: datetime, message: str | None, title: str
) -> list[EventPayload]:
    """Delegate to an email address; an earlier delegation still running is revoked first."""
    ensure_editable(q)
    events: list[EventPayload] = []
    supersedes = None
    d = q.delegation
    if d is not None and d.status in (DelegationStatus.ACTIVE, DelegationStatus.RETURNED):
        events.append(
            DelegationRevoked(
                **q._base(),
                delegation_id=d.id,
                delegate_email=d.email,
                reason=f"re-delegated to {email}",
            )
        )
        supersedes = d.id
    events.append(
        QuestionnaireDelegated(
            **q._base(),
            delegation_id=uuid.uuid4().hex,
            delegate_email=email,
            delegated_by=by,
            expires_at=expires_at,
            title=title,
            message=message,
            supersedes=supersedes,
        )
    )
    return events


def _current_delegation(q: Questionnaire, delegation_id: str | None = None) -> Delegation:
    d = q.delegation
    if d is None or d.status in (DelegationStatus.REVOKED, DelegationStatus.ACCEPTED):
        raise WrongState(f"questionnaire {q.id} is not delegated")
    if delegation_id is not None and d.id != delegation_id:
        raise WrongState(f"delegation {delegation_id} is not the current one")
    return d


def revoke(q: Questionnaire, delegation_id: str | None, reason: str | None) -> list[EventPayload]:
    d = _current_delegation(q, delegation_id)
    return [
        DelegationRevoked(**q._base(), delegation_id=d.id, delegate_email=d.email, reason=reason)
    ]


def return_to_lead(q: Questionnaire, delegation_id: str, comment: str | None) -> list[EventPayload]:
    ensure_editable(q)
    _delegate_may_edit(q, delegation_id)
    d = q.delegation
    assert d is not None
    return [
        QuestionnaireReturned(
            **q._base(), delegation_id=d.id, delegate_email=d.email, comment=comment
        )
    ]


def accept(q: Questionnaire, delegation_id: str | None) -> list[EventPayload]:
    d = _current_delegation(q, delegation_id)
    if d.status is not DelegationStatus.RETURNED:
        raise WrongState("the delegate has not returned it yet; revoke the delegation instead")
    return [DelegationAccepted(**q._base(), delegation_id=d.id, delegate_email=d.email)]


def send_back(q: Questionnaire, delegation_id: str | None, comment: str) -> list[EventPayload]:
    ensure_editable(q)
    d = _current_delegation(q, delegation_id)
    if d.status is not DelegationStatus.RETURNED:
        raise WrongState("only a returned questionnaire can be sent back")
    if not comment.strip():
        raise InvalidInput.field("comment", "say what the delegate should change")
    return [
        QuestionnaireSentBack(
            **q._base(), delegation_id=d.id, delegate_email=d.email, comment=comment.strip()
        )
    ]


def submit(q: Questionnaire, definition: Definition, by: str) -> list[EventPayload]:
    """Submit as complete: every shown required question answered and every rule holding.

    `InvalidInput` (422) lists what is missing. A returned delegation is accepted on the way;
    a delegation still with the delegate must be revoked first."""
    ensure_editable(q)
    d = q.delegation
    if d is not None and d.status is DelegationStatus.ACTIVE:
        raise WrongState(f"{q.id} is with a delegate ({d.email}): wait for it or revoke it")
    evaluation = rules.evaluate(definition, q.answers)
    problems = evaluation.problems
    if problems:
        raise InvalidInput(
            f"{len(problems)} thing(s) to finish before submitting",
            details=[{"field": p.question, **p.as_dict()} for p in problems],
        )
    events: list[EventPayload] = []
    if d is not None and d.status is DelegationStatus.RETURNED:
        events.append(DelegationAccepted(**q._base(), delegation_id=d.id, delegate_email=d.email))
    events.append(
        ResponseSubmitted(
            **q._base(),
            definition=q.definition,
            submitted_by=by,
            answers=evaluation.effective,
            subject_kind=q.subject_kind.value,
            subject_id=q.subject_id,
            scorecard=_scorecard(evaluation.grades),
        )
    )
    return events


def _scorecard(grades: rules.Grades | None) -> Scorecard | None:
    if grades is None:
        return None
    return Scorecard(
        topics={topic: g.value if g else None for topic, g in grades.topics.items()},
        overall=grades.overall.value if grades.overall else None,
    )


def withdraw_submission(q: Questionnaire, reason: str) -> list[EventPayload]:
    if q.status is not Status.SUBMITTED:
        raise WrongState(f"questionnaire {q.id} is not submitted")
    return [SubmissionWithdrawn(**q._base(), reason=reason)]


def lock(q: Questionnaire, signed_off_at: datetime, by: str) -> list[EventPayload]:
    """Lock for a sign-off (the caller appends it in the sign-off's transaction)."""
    if q.locked:
        return []
    return [QuestionnaireLocked(**q._base(), signed_off_at=signed_off_at, signed_off_by=by)]


def unlock(q: Questionnaire, reason: str) -> list[EventPayload]:
    """Unlock for a reopened return."""
    if not q.locked:
        return []
    return [QuestionnaireUnlocked(**q._base(), reason=reason)]


def cancel(q: Questionnaire, reason: str) -> list[EventPayload]:
    if q.status is Status.CANCELLED:
        return []
    return [QuestionnaireCancelled(**q._base(), reason=reason)]
