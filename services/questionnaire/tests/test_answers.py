"""Answers against a definition: normalising, applying changes, visibility, rules, grades, NI 51."""

from __future__ import annotations

import textwrap
from importlib.resources import files
from typing import Any

import pytest

from questionnaire.domain.answers import (
    AnswerError,
    Problem,
    answer_count,
    apply,
    effective,
    grades,
    missing,
    ni51,
    normalise,
    rule_problems,
    submission_problems,
    visible,
)
from questionnaire.domain.definition import Definition, load_definition, parse_definition
from questionnaire.domain.grading import Grade

FORM = parse_definition(
    textwrap.dedent(
        """\
        id: form
        version: 2
        title: A form
        kind: service
        sections:
          - id: main
            title: Main
            questions:
              - {id: colour, type: single_choice, text: C, required: true, options: [red, blue]}
              - id: extras
                type: multiple_choice
                text: E
                options: [a, b, c, d]
                min_selected: 1
                max_selected: 3
              - {id: has_budget, type: yes_no, text: HB, required: true}
              - {id: budget, type: money, text: B, required: true, show_if: "has_budget == true"}
              - {id: has_detail, type: yes_no, text: HD, show_if: "budget > 1000"}
              - {id: detail, type: text, text: D, required: true, show_if: "has_detail == true"}
              - {id: staff, type: integer, text: S, max: 500}
              - {id: ratio, type: decimal, text: R, decimals: 3, min: -1}
              - {id: share, type: percentage, text: P}
              - {id: start, type: date, text: St, min: 2020-01-01, max: 2030-12-31}
              - {id: notes, type: text, text: N, max_length: 10}
              - {id: maturity, type: scored_scale, text: M, levels: {1: low, 2: mid, 3: high}}
          - id: costs
            title: Costs
            show_if: "has_budget == true"
            questions:
              - {id: staff_cost, type: money, text: SC, required: true}
              - {id: other_cost, type: money, text: OC, show_if: "colour == 'red'"}
              - {id: part_a, type: decimal, text: PA, decimals: 3}
              - {id: part_b, type: decimal, text: PB, decimals: 3}
              - {id: part_total, type: decimal, text: PT, decimals: 3}
        rules:
          - id: split
            kind: sum_equals
            message: the costs add up to the budget
            parts: [staff_cost, other_cost]
            total: budget
          - id: parts
            kind: sum_equals
            message: the parts add up to the total
            parts: [part_a, part_b]
            total: part_total
          - id: staff_within
            kind: less_or_equal
            message: the staff cost is within the budget
            left: staff_cost
            right: budget
        """
    ),
    "form.yaml",
)
Q = FORM.questions


def answers_of(changes: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stored answers after applying `changes` (normalised, as the service would store them)."""
    return apply(FORM, current or {}, changes)[0]


# --- normalise ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "value", "stored"),
    [
        ("colour", "red", "red"),
        ("extras", ["c", "a"], ["a", "c"]),  # reordered to the options' order
        ("extras", [], None),  # nothing chosen is no answer: a required one stays missing
        ("extras", ["d", "b", "b"], ["b", "d"]),  # a choice chosen twice counts once
        ("has_budget", True, True),
        ("has_budget", False, False),
        ("budget", 1234.5, "1234.50"),  # money is pounds and pence, as exact text
        ("budget", "1234.5", "1234.50"),
        ("budget", "1,234.50", "1234.50"),
        ("budget", 10, "10.00"),
        ("budget", 0, "0.00"),
        ("budget", "0.10", "0.10"),
        ("budget", "1.500", "1.50"),  # trailing zeros are not decimal places
        ("staff", 0, 0),
        ("staff", 500, 500),
        ("ratio", "0.125", 0.125),
        ("ratio", 0.125, 0.125),
        ("ratio", -1, -1),
        ("ratio", 3.0, 3),  # a whole decimal is stored as a whole number
        ("ratio", "2.5000", 2.5),  # trailing zeros are not decimal places
        ("share", 0, 0),
        ("share", 100, 100),
        ("share", 12.5, 12.5),
        ("share", "99.99", 99.99),
        ("start", "2024-02-29", "2024-02-29"),
        ("start", "2020-01-01", "2020-01-01"),
        ("start", "2030-12-31", "2030-12-31"),
        ("notes", "  hello  ", "hello"),  # trimmed
        ("notes", "x" * 10, "x" * 10),
        ("notes", "   ", None),  # nothing but spaces clears
        ("maturity", 2, {"score": 2, "evidence": None}),
        ("maturity", {"score": 3, "evidence": " minutes "}, {"score": 3, "evidence": "minutes"}),
        ("maturity", {"score": 1, "evidence": ""}, {"score": 1, "evidence": None}),
        ("maturity", {"score": 1}, {"score": 1, "evidence": None}),
        *((qid, None, None) for qid in ("colour", "extras", "budget", "staff", "maturity")),
    ],
)
def test_normalise_accepts(question: str, value: Any, stored: Any) -> None:
    result = normalise(Q[question], value)
    assert result == stored
    assert type(result) is type(stored)


@pytest.mark.parametrize(
    ("question", "value", "reason"),
    [
        ("colour", "green", "choose one of: red, blue"),
        ("colour", 1, "choose one of"),
        ("colour", ["red"], "choose one of"),
        ("extras", "a", "give a list of choices"),
        ("extras", [1], "give a list of choices"),
        ("extras", ["a", "z"], "not an option: z"),
        ("extras", ["a", "b", "c", "d"], "choose at most 3"),
        ("has_budget", "yes", "true (yes) or false (no)"),
        ("has_budget", "true", "true (yes) or false (no)"),
        ("has_budget", 1, "true (yes) or false (no)"),
        ("budget", -1, "at least 0"),
        ("budget", "-0.01", "at least 0"),
        ("budget", "1.234", "at most 2 decimal places"),
        ("budget", 0.001, "at most 2 decimal places"),
        ("budget", "abc", "must be a number"),
        ("budget", "", "must be a number"),
        ("budget", "NaN", "must be a number"),
        ("budget", float("inf"), "must be a number"),
        ("budget", True, "must be a number"),
        ("budget", [1], "must be a number"),
        ("staff", 1.5, "whole number"),
        ("staff", 2.0, "whole number"),
        ("staff", True, "whole number"),
        ("staff", "3", "whole number"),
        ("staff", 501, "at most 500"),
        ("staff", -1, "at least 0"),
        ("ratio", "0.0001", "at most 3 decimal places"),
        ("ratio", -2, "at least -1"),
        ("ratio", False, "must be a number"),
        ("share", 101, "at most 100"),
        ("share", 100.01, "at most 100"),
        ("share", -0.01, "at least 0"),
        ("share", 50.555, "at most 2 decimal places"),
        ("start", "2024-02-30", "YYYY-MM-DD"),
        ("start", "31/01/2024", "YYYY-MM-DD"),
        ("start", "", "YYYY-MM-DD"),
        ("start", 20240131, "YYYY-MM-DD"),
        ("start", "2019-12-31", "at least 2020-01-01"),
        ("start", "2031-01-01", "at most 2030-12-31"),
        ("notes", "x" * 11, "at most 10 characters"),
        ("notes", 5, "must be text"),
        ("maturity", 4, "score must be one of 1, 2, 3"),
        ("maturity", 0, "score must be one of 1, 2, 3"),
        ("maturity", True, "give {score, evidence}"),
        ("maturity", "2", "give {score, evidence}"),
        ("maturity", {"score": True}, "score must be one of"),
        ("maturity", {"score": 2.0}, "score must be one of"),
        ("maturity", {"score": [1]}, "score must be one of"),
        ("maturity", {"evidence": "x"}, "score must be one of"),
        ("maturity", {"score": 2, "notes": "x"}, "give {score, evidence}"),
        ("maturity", {"score": 2, "evidence": 5}, "evidence is text"),
        ("maturity", {"score": 2, "evidence": "e" * 4001}, "evidence is text"),
    ],
)
def test_normalise_refuses(question: str, value: Any, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise(Q[question], value)
    assert type(caught.value) is ValueError
    assert reason in str(caught.value)


# --- apply --------------------------------------------------------------------------------------


def refused(current: dict[str, Any], changes: dict[str, Any]) -> list[Problem]:
    with pytest.raises(AnswerError) as caught:
        apply(FORM, current, changes)
    assert str(caught.value) == "; ".join(
        f"{p.question}: {p.reason}" for p in caught.value.problems
    )
    return caught.value.problems


def test_apply_unknown_question() -> None:
    [problem] = refused({}, {"nope": 1})
    assert problem.question == "nope"
    assert problem.reason == "there is no question nope in form@2"
    assert problem.rule is None


def test_apply_wrong_type() -> None:
    [problem] = refused({"colour": "red"}, {"staff": 1.5})
    assert problem == Problem("staff", "must be a whole number")


def test_apply_lists_every_value_problem() -> None:
    problems = refused({}, {"nope": 1, "staff": "many", "colour": "green"})
    assert [p.question for p in problems] == ["nope", "staff", "colour"]
    assert all(p.reason for p in problems)


def test_apply_hidden_follow_up() -> None:
    [problem] = refused({"has_budget": False}, {"budget": 5})
    assert problem.question == "budget"
    assert problem.reason == "not asked: it is shown only when has_budget == true"


def test_apply_follow_up_of_unanswered_trigger() -> None:
    [problem] = refused({}, {"detail": "why"})
    assert problem.question == "detail"
    assert "has_detail == true" in problem.reason


def test_apply_follow_up_of_hidden_follow_up_names_its_condition() -> None:
    # has_detail is stored as True but hidden (the budget is not above 1000): detail is not asked.
    current = {"has_budget": True, "budget": "500.00", "has_detail": True}
    [problem] = refused(current, {"detail": "why"})
    assert problem == Problem("detail", "not asked: it is shown only when has_detail == true")


def test_apply_question_in_hidden_section_names_the_section_condition() -> None:
    # other_cost's own condition (colour == 'red') holds; its section's does not.
    [problem] = refused({"colour": "red", "has_budget": False}, {"other_cost": 5})
    assert problem == Problem("other_cost", "not asked: it is shown only when has_budget == true")


def test_apply_question_whose_own_condition_fails_names_it() -> None:
    [problem] = refused({"colour": "blue", "has_budget": True}, {"other_cost": 5})
    assert problem == Problem("other_cost", "not asked: it is shown only when colour == 'red'")


def test_apply_trigger_and_follow_up_together() -> None:
    answers, changed = apply(FORM, {}, {"has_budget": True, "budget": 2000})
    assert answers == {"has_budget": True, "budget": "2000.00"}
    assert changed == {"has_budget": (None, True), "budget": (None, "2000.00")}


def test_apply_trigger_and_follow_up_of_follow_up_together() -> None:
    changes = {"detail": " why ", "has_detail": True, "budget": "1500", "has_budget": True}
    answers, _ = apply(FORM, {}, changes)
    assert answers == {"detail": "why", "has_detail": True, "budget": "1500.00", "has_budget": True}


def test_apply_clearing_the_trigger_with_its_follow_up_refuses_the_follow_up() -> None:
    current = answers_of({"has_budget": True, "budget": 10})
    [problem] = refused(current, {"has_budget": False, "budget": 20})
    assert problem.question == "budget"


def test_apply_clears_with_none() -> None:
    current = {"colour": "red", "notes": "hi"}
    answers, changed = apply(FORM, current, {"notes": None})
    assert answers == {"colour": "red"}
    assert changed == {"notes": ("hi", None)}
    assert current == {"colour": "red", "notes": "hi"}  # not modified


def test_apply_clears_a_hidden_answer() -> None:
    current = {"has_budget": False, "budget": "5.00"}
    answers, changed = apply(FORM, current, {"budget": None})
    assert answers == {"has_budget": False}
    assert changed == {"budget": ("5.00", None)}


def test_apply_clearing_an_unanswered_question_changes_nothing() -> None:
    answers, changed = apply(FORM, {"colour": "red"}, {"notes": None, "staff": None})
    assert answers == {"colour": "red"}
    assert changed == {}


def test_apply_changed_has_old_and_new_and_omits_unchanged() -> None:
    current = {"colour": "red", "staff": 3, "budget": "7.50", "has_budget": True}
    answers, changed = apply(FORM, current, {"colour": "red", "staff": 4, "budget": 7.5})
    assert answers == {"colour": "red", "staff": 4, "budget": "7.50", "has_budget": True}
    assert changed == {"staff": (3, 4)}  # 7.5 normalises to the stored "7.50": unchanged


def test_apply_keeps_other_answers() -> None:
    current = {"colour": "blue", "notes": "n"}
    answers, changed = apply(FORM, current, {"staff": 12})
    assert answers == {"colour": "blue", "notes": "n", "staff": 12}
    assert changed == {"staff": (None, 12)}


# --- visible, effective, missing ----------------------------------------------------------------

ALWAYS = {"colour", "extras", "has_budget", "staff", "ratio", "share", "start", "notes", "maturity"}
COSTS = {"staff_cost", "part_a", "part_b", "part_total"}


def test_visible_with_no_answers() -> None:
    assert visible(FORM, {}) == ALWAYS


def test_visible_follow_ups_and_section() -> None:
    answers = answers_of({"has_budget": True, "budget": 2000, "has_detail": True, "colour": "red"})
    assert visible(FORM, answers) == ALWAYS | COSTS | {
        "budget",
        "has_detail",
        "detail",
        "other_cost",
    }
    # Money is compared as a number: 1000 is not above 1000.
    assert "has_detail" not in visible(FORM, {**answers, "budget": "1000.00"})
    assert "has_detail" in visible(FORM, {**answers, "budget": "1000.01"})


def test_hiding_a_follow_up_keeps_it_stored_but_not_effective() -> None:
    full = answers_of(
        {
            "colour": "red",
            "has_budget": True,
            "budget": 2000,
            "has_detail": True,
            "detail": "why",
            "staff_cost": 1500,
            "other_cost": 500,
        }
    )
    assert missing(FORM, full) == []
    assert set(effective(FORM, full)) == set(full)

    answers, changed = apply(FORM, full, {"has_budget": False})
    assert changed == {"has_budget": (True, False)}
    # Everything stays stored...
    assert answers == {**full, "has_budget": False}
    # ...but what hangs on the budget is hidden, so it neither counts nor is required.
    hidden = {"budget", "has_detail", "detail", "staff_cost", "other_cost"}
    assert visible(FORM, answers) == ALWAYS
    assert effective(FORM, answers) == {"colour": "red", "has_budget": False}
    assert missing(FORM, answers) == []
    assert not hidden & set(effective(FORM, answers))
    assert answer_count(FORM, answers) == 2

    # Showing them again brings the kept answers back.
    again, _ = apply(FORM, answers, {"has_budget": True})
    assert effective(FORM, again) == {qid: full[qid] for qid in FORM.questions if qid in full}


def test_follow_up_of_a_hidden_follow_up_is_hidden() -> None:
    answers = answers_of({"has_budget": True, "budget": 2000, "has_detail": True, "detail": "x"})
    answers = answers_of({"budget": 500}, answers)
    assert answers["has_detail"] is True and answers["detail"] == "x"  # still stored
    shown = visible(FORM, answers)
    assert "has_detail" not in shown
    assert "detail" not in shown  # has_detail is True, but hidden, so seen as unanswered
    assert "detail" not in effective(FORM, answers)

    # One level further up: without a budget question, the whole chain is hidden.
    answers = answers_of({"budget": 2000}, answers)
    answers = answers_of({"has_budget": False}, answers)
    assert not {"budget", "has_detail", "detail"} & visible(FORM, answers)


def test_section_show_if_hides_every_question_in_it() -> None:
    assert not COSTS & visible(FORM, {"has_budget": False})
    assert not COSTS & visible(FORM, {})
    assert visible(FORM, {"has_budget": True}) >= COSTS
    # A question with its own condition in a shown section still needs it.
    assert "other_cost" not in visible(FORM, {"has_budget": True, "colour": "blue"})
    assert "other_cost" in visible(FORM, {"has_budget": True, "colour": "red"})
    assert "other_cost" not in visible(FORM, {"has_budget": False, "colour": "red"})


def test_effective_is_in_definition_order() -> None:
    answers = {"notes": "n", "staff": 2, "colour": "red"}
    assert list(effective(FORM, answers)) == ["colour", "staff", "notes"]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, ["colour", "has_budget"]),
        ({"colour": "red"}, ["has_budget"]),
        ({"has_budget": False}, ["colour"]),
        ({"has_budget": True}, ["colour", "budget", "staff_cost"]),
        ({"has_budget": True, "budget": "2000.00", "has_detail": False}, ["colour", "staff_cost"]),
        (
            {"has_budget": True, "budget": "2000.00", "has_detail": True},
            ["colour", "detail", "staff_cost"],
        ),
        ({"colour": "blue", "has_budget": True, "budget": "1.00", "staff_cost": "1.00"}, []),
    ],
)
def test_missing_lists_required_shown_unanswered_in_order(
    answers: dict[str, Any], expected: list[str]
) -> None:
    problems = missing(FORM, answers)
    assert [p.question for p in problems] == expected
    assert all(p.reason == "an answer is required" and p.rule is None for p in problems)


# --- rules --------------------------------------------------------------------------------------


def with_budget(**changes: Any) -> dict[str, Any]:
    return answers_of({"colour": "red", "has_budget": True, **changes})


def rule_ids(answers: dict[str, Any]) -> list[str | None]:
    return [p.rule for p in rule_problems(FORM, answers)]


def test_sum_equals_passes() -> None:
    assert rule_problems(FORM, with_budget(budget=100, staff_cost=60, other_cost=40)) == []
    assert (
        rule_problems(FORM, with_budget(budget="0.30", staff_cost="0.10", other_cost="0.20")) == []
    )


def test_sum_equals_fails_on_the_total() -> None:
    [problem] = rule_problems(FORM, with_budget(budget=100, staff_cost=60, other_cost=30))
    assert problem.rule == "split"
    assert problem.question == "budget"
    assert problem.reason == (
        "the costs add up to the budget (the parts add up to 90.00, the total is 100.00)"
    )
    assert problem.as_dict() == {"question": "budget", "reason": problem.reason, "rule": "split"}


def test_sum_equals_waits_for_the_total() -> None:
    assert rule_problems(FORM, with_budget(staff_cost=60, other_cost=30)) == []


def test_sum_equals_unanswered_part_counts_as_zero() -> None:
    assert rule_problems(FORM, with_budget(budget=60, staff_cost=60)) == []
    assert rule_ids(with_budget(budget=60, other_cost=60)) == []
    assert rule_ids(with_budget(budget=60, other_cost=50)) == ["split"]


def test_sum_equals_hidden_part_counts_as_zero() -> None:
    answers = with_budget(budget=60, staff_cost=60, other_cost=40)
    assert rule_ids(answers) == ["split"]
    answers = answers_of({"colour": "blue"}, answers)  # hides other_cost, which stays stored
    assert answers["other_cost"] == "40.00"
    assert rule_problems(FORM, answers) == []


def test_rules_over_a_hidden_section_do_not_apply() -> None:
    answers = with_budget(budget=100, staff_cost=500)
    assert rule_ids(answers) == ["split", "staff_within"]
    answers = answers_of({"has_budget": False}, answers)
    assert rule_problems(FORM, answers) == []


@pytest.mark.parametrize(
    ("a", "b", "total", "ok"),
    [
        ("0.1", "0.2", "0.3", True),  # exact decimals, not binary floats
        (0.1, 0.2, 0.3, True),
        ("0.001", "0.002", "0.003", True),
        ("0.001", "0.002", "0.004", False),  # any difference is a difference
        ("0.1", "0.2", "0.301", False),
        ("0.1", "0.2", "0.31", False),
        ("1.5", "-0.5", "1", True),
        ("-1", "1", "0", True),
    ],
)
def test_sum_equals_is_exact(a: Any, b: Any, total: Any, ok: bool) -> None:
    answers = with_budget(part_a=a, part_b=b, part_total=total)
    assert rule_ids(answers) == ([] if ok else ["parts"])


def test_less_or_equal_passes_when_equal() -> None:
    assert rule_problems(FORM, with_budget(budget=100, staff_cost=100)) == []
    assert rule_problems(FORM, with_budget(budget=100, staff_cost=40, other_cost=60)) == []


def test_less_or_equal_fails_on_the_left() -> None:
    answers = with_budget(budget=200, staff_cost=120, other_cost=80)
    assert rule_problems(FORM, answers) == []
    answers = answers_of({"budget": 100, "other_cost": None, "staff_cost": 100.01}, answers)
    problems = {p.rule: p for p in rule_problems(FORM, answers)}
    assert set(problems) == {"split", "staff_within"}
    problem = problems["staff_within"]
    assert problem.question == "staff_cost"
    assert problem.reason == "the staff cost is within the budget (100.01 is more than 100.00)"


def test_less_or_equal_waits_for_both_sides() -> None:
    assert "staff_within" not in rule_ids(with_budget(staff_cost=500))
    assert rule_problems(FORM, answers_of({"has_budget": True, "budget": 0})) == []


def test_submission_problems_are_missing_then_rules() -> None:
    answers = with_budget(budget=100, staff_cost=60, other_cost=30, has_detail=None)
    answers = answers_of({"part_total": 1}, answers)
    answers.pop("colour")
    problems = submission_problems(FORM, answers)
    assert [(p.question, p.rule) for p in problems] == [
        ("colour", None),
        ("budget", "split"),
        ("part_total", "parts"),
    ]


# --- grades (the shipped self-assessment) -------------------------------------------------------


@pytest.fixture(scope="module")
def self_assessment() -> Definition:
    resource = files("questionnaire.definitions").joinpath("commissioning_self_assessment.yaml")
    return load_definition(resource)


def scores(definition: Definition, by_section: dict[str, list[int] | int]) -> dict[str, Any]:
    """Stored answers scoring each question of a section (a list: the first questions only)."""
    changes: dict[str, Any] = {}
    for section in definition.sections:
        given = by_section.get(section.id)
        if given is None:
            continue
        values = given if isinstance(given, list) else [given] * len(section.questions)
        for question, score in zip(section.questions, values, strict=False):
            changes[question.id] = {"score": score, "evidence": f"evidence for {question.id}"}
    return apply(definition, {}, changes)[0]


def test_grades_one_section(self_assessment: Definition) -> None:
    result = grades(self_assessment, scores(self_assessment, {"s1": 3}))
    assert result is not None
    assert result.topics == {
        "s1": Grade.DARK_GREEN,
        "s2": None,
        "s3": None,
        "s4": None,
        "s5": None,
        "s6": None,
    }
    assert result.overall is None


def test_grades_no_answers(self_assessment: Definition) -> None:
    result = grades(self_assessment, {})
    assert result is not None
    assert set(result.topics.values()) == {None}
    assert result.overall is None


@pytest.mark.parametrize(
    ("by_section", "topics", "overall"),
    [
        # Five sections answered: no overall grade yet.
        ({"s1": 3, "s2": 3, "s3": 3, "s4": 3, "s5": 3}, ["DG"] * 5 + [None], None),
        # One answer in each section is enough for a topic grade.
        ({s: [3] for s in ("s1", "s2", "s3", "s4", "s5", "s6")}, ["DG"] * 6, Grade.GREEN),
        (
            {"s1": 3, "s2": 3, "s3": 3, "s4": 3, "s5": 2, "s6": 2},
            ["DG"] * 4 + ["Y", "Y"],
            Grade.GREEN,
        ),  # four or more green or dark green
        (
            {"s1": 3, "s2": 3, "s3": 3, "s4": 2, "s5": 2, "s6": 2},
            ["DG"] * 3 + ["Y"] * 3,
            Grade.PALE_GREEN,
        ),  # some green, fewer than four
        ({s: 2 for s in ("s1", "s2", "s3", "s4", "s5", "s6")}, ["Y"] * 6, Grade.YELLOW),
        (
            {"s1": [1, 2, 2], "s2": 3, "s3": 3, "s4": 3, "s5": 3, "s6": 3},
            ["A"] + ["DG"] * 5,
            Grade.AMBER,
        ),  # any red or amber
        (
            {"s1": 1, "s2": 1, "s3": 1, "s4": [1, 2, 2], "s5": 3, "s6": 3},
            ["R", "R", "R", "A", "DG", "DG"],
            Grade.RED,
        ),  # four or more red or amber
        (
            {"s1": [2, 2, 3], "s2": [2, 3], "s3": [2, 3, 3], "s4": 2, "s5": 2, "s6": [3, 2]},
            ["PG", "G", "DG", "Y", "Y", "G"],
            Grade.PALE_GREEN,
        ),  # three green: not many
    ],
)
def test_grades_overall(
    self_assessment: Definition,
    by_section: dict[str, Any],
    topics: list[str | None],
    overall: Grade | None,
) -> None:
    short = {
        "R": Grade.RED,
        "A": Grade.AMBER,
        "Y": Grade.YELLOW,
        "PG": Grade.PALE_GREEN,
        "G": Grade.GREEN,
        "DG": Grade.DARK_GREEN,
    }
    result = grades(self_assessment, scores(self_assessment, by_section))
    assert result is not None
    assert list(result.topics) == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert list(result.topics.values()) == [short[t] if t else None for t in topics]
    assert result.overall == overall


def test_self_assessment_missing_until_all_44(self_assessment: Definition) -> None:
    answers = scores(self_assessment, {"s1": 3, "s2": 3, "s3": 3, "s4": 3, "s5": 3, "s6": [3]})
    assert [p.question for p in missing(self_assessment, answers)] == ["s6q2"]
    answers = scores(self_assessment, {s.id: 2 for s in self_assessment.sections})
    assert submission_problems(self_assessment, answers) == []
    assert answer_count(self_assessment, answers) == 44


def test_grades_only_for_a_self_assessment() -> None:
    assert grades(FORM, answers_of({"maturity": 3})) is None


# --- NI 51 --------------------------------------------------------------------------------------

LEVELS = "{1: not in place, 2: partly in place, 3: largely in place, 4: fully in place}"
CAMHS = parse_definition(
    textwrap.dedent(
        f"""\
        id: camhs-mini
        version: 1
        title: CAMHS partnership
        kind: camhs-partnership
        sections:
          - id: ni51
            title: NI 51
            questions:
              - {{id: learning_disabilities, type: scored_scale, text: LD, levels: {LEVELS}}}
              - {{id: urgent_24_hour_cover, type: scored_scale, text: U, levels: {LEVELS}}}
              - {{id: age_16_17, type: scored_scale, text: A, levels: {LEVELS}}}
              - {{id: universal_services, type: yes_no, text: Universal services}}
              - id: early_intervention
                type: scored_scale
                text: EI
                levels: {LEVELS}
                show_if: universal_services == true
        """
    ),
    "camhs.yaml",
)
NI51_IDS = ("learning_disabilities", "urgent_24_hour_cover", "age_16_17", "early_intervention")


def camhs_answers(*values: int, universal: bool = True) -> dict[str, Any]:
    changes: dict[str, Any] = {"universal_services": universal}
    changes.update({qid: {"score": v, "evidence": "e"} for qid, v in zip(NI51_IDS, values)})
    return apply(CAMHS, {}, changes)[0]


@pytest.mark.parametrize(
    ("values", "score"), [((1, 2, 3, 4), 10), ((1, 1, 1, 1), 4), ((4, 4, 4, 4), 16)]
)
def test_ni51_sums_the_four(values: tuple[int, ...], score: int) -> None:
    result = ni51(CAMHS, "Leeds", camhs_answers(*values))
    assert result is not None
    assert result.area == "Leeds"
    assert result.score == score
    assert [getattr(result, qid) for qid in NI51_IDS] == list(values)


def test_ni51_needs_all_four() -> None:
    assert ni51(CAMHS, "Leeds", camhs_answers(1, 2, 3)) is None
    assert ni51(CAMHS, "Leeds", {}) is None


def test_ni51_a_hidden_answer_does_not_count() -> None:
    answers = camhs_answers(1, 2, 3, 4)
    answers = apply(CAMHS, answers, {"universal_services": False})[0]
    assert answers["early_intervention"]["score"] == 4  # kept, but hidden
    assert ni51(CAMHS, "Leeds", answers) is None


def test_ni51_only_for_a_camhs_partnership() -> None:
    assert ni51(FORM, "Leeds", camhs_answers(1, 2, 3, 4)) is None


def test_ni51_refuses_a_score_off_the_scale() -> None:
    with pytest.raises(AnswerError) as caught:
        apply(CAMHS, {}, {"age_16_17": 5})
    assert caught.value.problems == [Problem("age_16_17", "score must be one of 1, 2, 3, 4")]
