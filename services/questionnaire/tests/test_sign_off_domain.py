"""The sign-off rule, pure: a return is signed off once, while data entry is open for it, when
everything it owes is submitted; the decision locks each questionnaire and says what the
sign-off event will carry."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from csm_contracts.events.cycles import Phase, Timetable
from csm_contracts.events.responses import QuestionnaireIssued, QuestionnaireLocked, SubjectKind
from csm_kernel.errors import Conflict
from questionnaire.application.catalogue import shipped_catalogue
from questionnaire.domain.cycle import CycleState, ReturnState
from questionnaire.domain.definition import DefinitionKind
from questionnaire.domain.errors import ReturnLocked
from questionnaire.domain.questionnaire import Questionnaire, Status, issued, questionnaire_id
from questionnaire.domain.sign_off import SignOff, decide_sign_off

CATALOGUE = shipped_catalogue()
NOW = datetime(2009, 12, 1, 9, 0, tzinfo=UTC)
TIMETABLE = Timetable(
    sandbox_opens=datetime(2009, 10, 1, tzinfo=UTC),
    data_entry_opens=datetime(2009, 11, 2, tzinfo=UTC),
    summary_reports=datetime(2010, 1, 11, tzinfo=UTC),
    data_entry_closes=datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC),
    publication=datetime(2010, 4, 6, tzinfo=UTC),
)
OPEN = CycleState("2009-10", 3, Phase.DATA_ENTRY, TIMETABLE)
RET = ReturnState("2009-10", "LA1")
NI51 = {
    "learning_disabilities": 4,
    "urgent_24_hour_cover": 3,
    "age_16_17": 2,
    "early_intervention": 1,
}


def _questionnaire(kind: DefinitionKind, status: Status, **changes: object) -> Questionnaire:
    definition = CATALOGUE.latest(kind)
    q = issued(
        QuestionnaireIssued(
            organisation_id="LA1",
            cycle="2009-10",
            questionnaire_id=questionnaire_id("2009-10", "LA1", definition.id, "LA1"),
            definition=definition.ref,
            title=definition.title,
            subject_kind=SubjectKind.AREA,
            subject_id="LA1",
        )
    )
    return replace(q, status=status, version=5, **changes)  # type: ignore[arg-type]


def _camhs(status: Status = Status.SUBMITTED) -> Questionnaire:
    answers = {k: {"score": v, "evidence": "minutes"} for k, v in NI51.items()}
    return _questionnaire(DefinitionKind.CAMHS_PARTNERSHIP, status, answers=answers)


def _trust(status: Status = Status.SUBMITTED) -> Questionnaire:
    return _questionnaire(DefinitionKind.CHILDRENS_TRUST, status)


def _decide(
    cycle: CycleState = OPEN, ret: ReturnState = RET, *qs: Questionnaire, **kw: object
) -> SignOff:
    return decide_sign_off(cycle, ret, list(qs), CATALOGUE.get, now=NOW, by="user:lead", **kw)  # type: ignore[arg-type]


def test_everything_submitted_locks_each_questionnaire_and_carries_what_a_regulator_needs() -> None:
    camhs, trust = _camhs(), _trust()
    cancelled = replace(_trust(Status.CANCELLED), id="gone")
    supersedes = NOW - timedelta(days=3)
    decided = _decide(
        OPEN, RET, camhs, trust, cancelled, organisation_name="LA One", supersedes=supersedes
    )
    assert [q.id for q, _ in decided.locks] == [camhs.id, trust.id]  # the cancelled one aside
    for q, events in decided.locks:
        [event] = events
        assert isinstance(event, QuestionnaireLocked)
        assert event.signed_off_at == NOW and event.signed_off_by == "user:lead"
    locked = decided.locked()
    assert all(q.locked for q in locked)
    assert [q.version for q in locked] == [6, 6]
    assert decided.streams == [camhs.stream_id, trust.stream_id, "return-2009-10-LA1"]
    heads = {s: f"hash-{n}" for n, s in enumerate(decided.streams)}
    event = decided.event(heads)
    assert event.organisation_id == "LA1" and event.cycle == "2009-10"
    assert event.signed_off_at == NOW and event.signed_off_by == "user:lead"
    assert event.questionnaires_submitted == event.questionnaires_issued == 2
    assert event.stream_heads == heads
    assert event.organisation_name == "LA One" and event.supersedes == supersedes
    assert [(s.area, s.score) for s in event.ni51] == [("LA1", 10)]
    assert event.answers_count == decided.answers_count >= len(NI51)


def test_a_questionnaire_already_locked_gets_no_second_lock() -> None:
    decided = _decide(OPEN, RET, _camhs(), _trust(), replace(_trust(), id="x", locked=True))
    assert [len(events) for _, events in decided.locks] == [1, 1, 0]


def test_a_return_already_signed_off_is_locked() -> None:
    signed = replace(RET, version=2, signed_off_at=NOW - timedelta(days=1), signed_off_by="u")
    with pytest.raises(ReturnLocked, match="already signed off"):
        _decide(OPEN, signed, _camhs(), _trust())


def test_not_before_data_entry_nor_after_the_close_without_an_extension() -> None:
    with pytest.raises(ReturnLocked, match="opens on"):
        _decide(replace(OPEN, phase=Phase.SANDBOX), RET, _camhs())
    closed = replace(OPEN, phase=Phase.CLOSED)
    with pytest.raises(ReturnLocked, match="closed"):
        _decide(closed, RET, _camhs())
    extended = replace(RET, version=1, extension_until=NOW + timedelta(days=1))
    assert _decide(closed, extended, _camhs()).locks
    assert _decide(closed, replace(RET, version=1, reopened=True), _camhs()).locks


def test_nothing_owed_yet_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="owes no questionnaires"):
        _decide(OPEN, RET)
    with pytest.raises(Conflict, match="owes no questionnaires"):
        _decide(OPEN, RET, _trust(Status.CANCELLED))


def test_each_questionnaire_not_submitted_is_named() -> None:
    pending = _trust(Status.IN_PROGRESS)
    with pytest.raises(Conflict) as refused:
        _decide(OPEN, RET, _camhs(), pending, _camhs(Status.DELEGATED))
    assert str(refused.value).startswith("2 questionnaire(s) not submitted yet")
    assert [d["field"] for d in refused.value.details] == [pending.id, _camhs().id]
    assert refused.value.details[0]["reason"] == f"{pending.title}: in-progress"
