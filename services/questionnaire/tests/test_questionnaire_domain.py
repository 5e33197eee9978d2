"""Decisions on one questionnaire, pure: events out, state by `evolve`, replay agrees."""

from datetime import UTC, datetime

import pytest

from csm_contracts.events.responses import QuestionnaireIssued, SubjectKind
from csm_kernel.errors import InvalidInput
from questionnaire.application.catalogue import shipped_catalogue
from questionnaire.domain import questionnaire as decide
from questionnaire.domain.answers import AnswerError
from questionnaire.domain.errors import WrongState
from questionnaire.domain.questionnaire import (
    DelegationStatus,
    Questionnaire,
    Status,
    evolve,
    issued,
    questionnaire_id,
    replay,
)

AT = datetime(2009, 11, 10, tzinfo=UTC)
SA = shipped_catalogue().get("commissioning-self-assessment")


def fresh() -> tuple[Questionnaire, list]:
    qid = questionnaire_id("2009-10", "PCT1", SA.id, "PCT1")
    event = QuestionnaireIssued(
        organisation_id="PCT1",
        cycle="2009-10",
        questionnaire_id=qid,
        definition=SA.ref,
        title="SA",
        subject_kind=SubjectKind.ORGANISATION,
        subject_id="PCT1",
    )
    return issued(event), [event]


def step(q: Questionnaire, history: list, events: list) -> Questionnaire:
    for e in events:
        q = evolve(q, e, AT)
        history.append(e)
    return q


def test_ids_are_stable_so_issuing_twice_issues_once() -> None:
    assert questionnaire_id("2009-10", "A", "service", "s1") == questionnaire_id(
        "2009-10", "A", "service", "s1"
    )
    assert questionnaire_id("2009-10", "A", "service", "s1") != questionnaire_id(
        "2010-11", "A", "service", "s1"
    )


def test_the_delegation_round_trip_and_replay_agree() -> None:
    q, history = fresh()
    q = step(q, history, decide.delegate(q, "a@x.org", "user:1", AT, None, "SA"))
    first = q.delegation
    assert q.status is Status.DELEGATED and first is not None
    # Re-delegation revokes the first and delegates afresh.
    events = decide.delegate(q, "b@x.org", "user:1", AT, None, "SA")
    assert [type(e).__name__ for e in events] == ["DelegationRevoked", "QuestionnaireDelegated"]
    assert events[1].supersedes == first.id
    q = step(q, history, events)
    d = q.delegation
    assert d is not None and d.email == "b@x.org"
    answers_events, _ = decide.save_answers(q, SA, {"s1q1": 2}, delegation_id=d.id)
    q = step(q, history, answers_events)
    with pytest.raises(WrongState):  # the first delegate's id no longer edits
        decide.save_answers(q, SA, {"s1q1": 3}, delegation_id=first.id)
    with pytest.raises(WrongState, match="with a delegate"):
        decide.submit(q, SA, "user:1")
    with pytest.raises(WrongState, match="not returned"):
        decide.accept(q, d.id)
    q = step(q, history, decide.return_to_lead(q, d.id, "done"))
    assert q.status is Status.RETURNED and q.delegation.status is DelegationStatus.RETURNED
    with pytest.raises(InvalidInput):
        decide.send_back(q, d.id, "   ")
    q = step(q, history, decide.send_back(q, d.id, "tier please"))
    assert q.status is Status.DELEGATED and q.delegation.comment == "tier please"
    q = step(q, history, decide.return_to_lead(q, d.id, None))
    q = step(q, history, decide.accept(q, d.id))
    assert q.status is Status.IN_PROGRESS and q.delegation.status is DelegationStatus.ACCEPTED
    assert replay((e, AT) for e in history) == q


def test_submit_needs_every_required_answer_and_takes_only_effective_ones() -> None:
    q, history = fresh()
    with pytest.raises(InvalidInput) as info:
        decide.submit(q, SA, "user:1")
    assert len(info.value.details) == 44
    answers = {qid: 2 for qid in SA.questions}
    q = step(q, history, decide.save_answers(q, SA, answers)[0])
    [submitted] = decide.submit(q, SA, "user:1")
    assert submitted.answers["s1q1"] == {"score": 2, "evidence": None}
    q = step(q, history, [submitted])
    assert q.status is Status.SUBMITTED
    with pytest.raises(WrongState, match="submitted"):
        decide.save_answers(q, SA, {"s1q1": 1})
    q = step(q, history, decide.withdraw_submission(q, "one more"))
    assert q.status is Status.IN_PROGRESS


def test_bad_answers_are_named() -> None:
    q, _ = fresh()
    with pytest.raises(AnswerError) as info:
        decide.save_answers(q, SA, {"s1q1": 4, "zz": 1})
    assert [p.question for p in info.value.problems] == ["s1q1", "zz"]


def test_nothing_to_save_writes_no_event() -> None:
    q, history = fresh()
    q = step(q, history, decide.save_answers(q, SA, {"s1q1": 2})[0])
    assert decide.save_answers(q, SA, {"s1q1": 2})[0] == []


def test_a_sign_off_locks_and_a_reopening_unlocks_once_each() -> None:
    q, history = fresh()
    q = step(q, history, decide.lock(q, AT, "user:lead"))
    assert q.locked and q.version == 2
    assert decide.lock(q, AT, "user:lead") == []  # already locked: nothing to append
    q = step(q, history, decide.unlock(q, "reopened"))
    assert not q.locked and q.version == 3
    assert decide.unlock(q, "again") == []
    assert replay((e, AT) for e in history) == q
