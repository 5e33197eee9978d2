"""The show_if language: what it evaluates, and everything it refuses."""

from __future__ import annotations

import pytest

from questionnaire.domain.conditions import ConditionError, cycle_in, parse


@pytest.mark.parametrize(
    ("source", "answers", "shown"),
    [
        ("camhs == true", {"camhs": True}, True),
        ("camhs == true", {"camhs": False}, False),
        ("camhs == true", {}, False),  # unanswered is null
        ("tier >= 2 and camhs", {"tier": 3, "camhs": True}, True),
        ("tier >= 2", {}, False),  # ordering with null is false
        ("not (tier >= 2)", {"tier": 1}, True),
        ("type in ['targeted', 'specialist']", {"type": "targeted"}, True),
        ("type not in ['universal']", {"type": "universal"}, False),
        ("'speech' in needs", {"needs": ["speech", "sight"]}, True),
        ("'speech' in needs", {}, False),
        ("0 < age_min <= 5", {"age_min": 3}, True),
        ("wte > -1.5", {"wte": 0}, True),
        ("tier > 'x'", {"tier": 2}, False),  # mismatched types never match
        ("a == null or b", {"b": True}, True),
    ],
)
def test_evaluates(source: str, answers: dict, shown: bool) -> None:
    assert parse(source).evaluate(answers) is shown


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("__import__('os').system('x')", "Call is not allowed"),
        ("answers.camhs", "Attribute is not allowed"),
        ("x[0] == 1", "Subscript is not allowed"),
        ("tier + 1 > 2", "BinOp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("tier is None", "comparison Is is not allowed"),
        ("x in [y]", "a list holds only literals"),
        ("tier ==", "not a condition"),
        ("-tier > 1", "minus goes only before a number"),
    ],
)
def test_refuses(source: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=reason):
        parse(source)


def test_names_must_be_known_questions() -> None:
    condition = parse("camhs and tier > 1", {"camhs", "tier"})
    assert condition.references == {"camhs", "tier"}
    with pytest.raises(ConditionError, match=r"unknown question.*: tierr"):
        parse("camhs and tierr > 1", {"camhs", "tier"})


def test_cycles_between_conditions_are_found() -> None:
    assert cycle_in({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}) is None
    assert cycle_in({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert cycle_in({"a": frozenset({"a"})}) == ["a", "a"]
