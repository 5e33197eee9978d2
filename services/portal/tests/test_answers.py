"""Answers between the form's strings and the questionnaire service's types."""

from __future__ import annotations

from starlette.datastructures import FormData

from portal.application.answers import answers_from_form, form_values, without_hidden

QUESTIONS = {
    "n": {"id": "n", "type": "integer"},
    "m": {"id": "m", "type": "money"},
    "yn": {"id": "yn", "type": "yes_no"},
    "many": {"id": "many", "type": "multiple_choice"},
    "d": {"id": "d", "type": "date"},
    "s": {"id": "s", "type": "scored_scale"},
}


def test_each_type_from_the_form() -> None:
    form = FormData(
        [("present", q) for q in QUESTIONS]
        + [
            ("q.n", "1,200"),
            ("q.m", "£1,000.50"),
            ("q.yn", "no"),
            ("q.d-day", "3"),
            ("q.d-month", "11"),
            ("q.d-year", "2009"),
            ("q.s", "2"),
            ("q.s.evidence", "minutes"),
        ]
    )
    assert answers_from_form(form, QUESTIONS) == {
        "n": 1200,
        "m": "1000.50",
        "yn": False,
        "many": None,
        "d": "2009-11-03",
        "s": {"score": 2, "evidence": "minutes"},
    }


def test_what_cannot_be_read_goes_to_the_service_to_say_why() -> None:
    form = FormData(
        [
            ("present", "n"),
            ("q.n", "lots"),
            ("present", "d"),
            ("q.d-day", "31"),
            ("q.d-month", "x"),
            ("q.d-year", "2009"),
        ]
    )
    assert answers_from_form(form, QUESTIONS) == {"n": "lots", "d": "31/x/2009"}


def test_questions_not_on_the_page_are_left_alone() -> None:
    assert answers_from_form(FormData([("q.n", "3")]), QUESTIONS) == {}


def test_stored_answers_fill_the_form() -> None:
    view = {
        "sections": [
            {
                "questions": [
                    {"id": "d", "type": "date", "answer": "2009-11-03"},
                    {"id": "s", "type": "scored_scale", "answer": {"score": 3, "evidence": None}},
                    {"id": "yn", "type": "yes_no", "answer": True},
                ]
            }
        ]
    }
    assert form_values(view) == {
        "q.d-day": "03",
        "q.d-month": "11",
        "q.d-year": "2009",
        "q.s": "3",
        "q.s.evidence": "",
        "q.yn": "yes",
    }


def test_answers_to_hidden_questions_are_cleared_or_dropped() -> None:
    changes = {"a": 1, "b": 2, "c": 3}
    assert without_hidden(changes, ["a"], {"b": 9}) == {"a": 1, "b": None}
