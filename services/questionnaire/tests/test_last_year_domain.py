"""Bringing last year's answers in, pure: what is offered, what is skipped and why, what the
event records, and when it is refused."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from csm_contracts.events.responses import AnswersSavedV2, QuestionnaireIssued, SubjectKind
from questionnaire.application.catalogue import shipped_catalogue
from questionnaire.domain.definition import Definition, Option
from questionnaire.domain.errors import WrongState
from questionnaire.domain.last_year import (
    LastYear,
    NothingToBringIn,
    bring_in,
    offer,
    question_changed,
)
from questionnaire.domain.questionnaire import Questionnaire, Status, evolve, issued

AT = datetime(2010, 11, 10, tzinfo=UTC)
SERVICE = shipped_catalogue().get("service@1")

LAST_ANSWERS: dict[str, Any] = {
    "service_area": "mental_health",
    "provider_sector": "nhs",
    "camhs": True,
    "camhs_tier": "3",
    "camhs_waiting_weeks": 12,
    "caseload_total": 140,
    "wte_total": 4.5,
    "investment_total": "760000.00",
}


def this_year(answers: dict[str, Any] | None = None) -> Questionnaire:
    q = issued(
        QuestionnaireIssued(
            organisation_id="TR1",
            cycle="2010-11",
            questionnaire_id="q-2010",
            definition=SERVICE.ref,
            title="Service: Clinic",
            subject_kind=SubjectKind.SERVICE,
            subject_id="s-2010",
        )
    )
    return replace(q, answers=dict(answers or {}))


def last_year(answers: dict[str, Any], definition: Definition = SERVICE) -> LastYear:
    return LastYear("2009-10", "q-2009", definition, answers)


def changed(definition: Definition, question: str, **changes: Any) -> Definition:
    """`definition` with one question changed."""
    sections = tuple(
        replace(
            s,
            questions=tuple(replace(q, **changes) if q.id == question else q for q in s.questions),
        )
        for s in definition.sections
    )
    return replace(definition, version=definition.version + 1, sections=sections)


def without(definition: Definition, question: str) -> Definition:
    """`definition` no longer asking one question."""
    sections = tuple(
        replace(s, questions=tuple(q for q in s.questions if q.id != question))
        for s in definition.sections
    )
    return replace(definition, version=definition.version + 1, sections=sections)


def test_last_years_answers_fill_the_unanswered_questions_and_the_event_says_where_from() -> None:
    q = this_year({"provider_sector": "third_sector"})
    events, found = bring_in(q, SERVICE, last_year(LAST_ANSWERS), replace_answered=False)
    [event] = events
    assert isinstance(event, AnswersSavedV2)
    assert event.brought_in_from is not None
    assert (event.brought_in_from.cycle, event.brought_in_from.questionnaire_id) == (
        "2009-10",
        "q-2009",
    )
    brought = {c.question: (c.old, c.new) for c in event.changes}
    # An answer given this year is kept; the rest come from last year, normalised as saved.
    assert "provider_sector" not in brought
    assert brought["caseload_total"] == (None, 140)
    assert brought["investment_total"] == (None, "760000.00")
    assert set(brought) == set(LAST_ANSWERS) - {"provider_sector"}
    assert found.replacing == {"provider_sector": "nhs"}
    after = evolve(q, event, AT)
    assert after.answers["provider_sector"] == "third_sector"
    assert after.answers["camhs_tier"] == "3" and after.status is Status.IN_PROGRESS


def test_confirming_replaces_answers_that_differ_and_leaves_the_same_ones_alone() -> None:
    q = this_year({"provider_sector": "third_sector", "caseload_total": 140})
    found = offer(q, SERVICE, last_year(LAST_ANSWERS))
    assert found.same == ("caseload_total",)
    [event], _ = bring_in(q, SERVICE, last_year(LAST_ANSWERS), replace_answered=True)
    brought = {c.question: (c.old, c.new) for c in event.changes}  # type: ignore[attr-defined]
    assert brought["provider_sector"] == ("third_sector", "nhs")
    assert "caseload_total" not in brought


def test_questions_dropped_or_changed_since_last_year_are_skipped_with_the_reason() -> None:
    now = changed(
        SERVICE,
        "service_area",
        options=(Option("health", "Health"), Option("care", "Social care")),
    )
    now = changed(now, "caseload_total", text="How many children were seen in the year?")
    now = without(now, "hours_of_operation")
    answers = {**LAST_ANSWERS, "hours_of_operation": "office_hours"}
    found = offer(this_year(), now, last_year(answers))
    reasons = {s.question: s.reason for s in found.skipped}
    assert reasons == {
        "service_area": "the question has changed since 2009-10",
        "caseload_total": "the question has changed since 2009-10",
        "hours_of_operation": "not asked in 2010-11",
    }
    assert "provider_sector" in found.unanswered
    # Wording alone is a change; where a question sits in the file is not.
    assert question_changed(SERVICE.questions["caseload_total"], now.questions["caseload_total"])
    assert not question_changed(
        SERVICE.questions["wte_total"], replace(SERVICE.questions["wte_total"], line=999)
    )


def test_an_answer_no_longer_valid_is_skipped_and_the_rest_brought_in() -> None:
    # Stored last year beyond this year's bound (the question allows at most 104 weeks).
    found = offer(this_year(), SERVICE, last_year({**LAST_ANSWERS, "camhs_waiting_weeks": 200}))
    [skipped] = found.skipped
    assert skipped.question == "camhs_waiting_weeks"
    assert skipped.reason.startswith("not a valid answer now")
    assert "camhs_tier" in found.unanswered


def test_follow_ups_come_only_when_this_years_answers_show_them() -> None:
    q = this_year({"camhs": False})
    found = offer(q, SERVICE, last_year(LAST_ANSWERS))
    # camhs is "no" this year: its follow-ups are not asked unless camhs is replaced too.
    assert "camhs_tier" not in found.unanswered
    assert {"camhs", "camhs_tier", "camhs_waiting_weeks"} <= set(found.everything)
    assert found.replacing == {"camhs": True}
    [event], _ = bring_in(q, SERVICE, last_year(LAST_ANSWERS), replace_answered=False)
    assert "camhs_tier" not in {c.question for c in event.changes}  # type: ignore[attr-defined]


def test_answers_hidden_last_year_did_not_count_and_are_not_brought_in() -> None:
    hidden_last_year = {"camhs": False, "camhs_tier": "4", "caseload_total": 20}
    found = offer(this_year(), SERVICE, last_year(hidden_last_year))
    assert found.unanswered == {"camhs": False, "caseload_total": 20}
    assert not found.skipped


def test_refusals_say_why() -> None:
    submitted = replace(this_year(), status=Status.SUBMITTED)
    with pytest.raises(WrongState, match="submitted"):
        bring_in(submitted, SERVICE, last_year(LAST_ANSWERS), replace_answered=False)
    with pytest.raises(NothingToBringIn, match="nothing in 2009-10's answers"):
        bring_in(this_year(), SERVICE, last_year({}), replace_answered=False)
    # Everything it could bring in is answered differently now: it says how to go on.
    answered = this_year({"provider_sector": "private"})
    with pytest.raises(NothingToBringIn, match="confirm replacing 1 answer"):
        bring_in(answered, SERVICE, last_year({"provider_sector": "nhs"}), replace_answered=False)
    # And the same answers as last year's: nothing to do.
    same = this_year({"provider_sector": "nhs"})
    with pytest.raises(NothingToBringIn):
        bring_in(same, SERVICE, last_year({"provider_sector": "nhs"}), replace_answered=True)
