"""Questionnaires people can finish: sections and their progress, "check your answers", running
totals of the sum rules, answers pre-filled from the service record (pure), and over the fake
services: every button saves the page first (the delegate's return above all), the check page
and its submit, the print view, the delegate's page."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from portal_fakes import LEAD_TOKEN, browser, portal, questionnaire, refusal, service_view
from test_pages import summary_links

from portal.application.models import QuestionnaireView, ServiceRecord
from portal.application.prefill import from_record, with_answers
from portal.application.sections import (
    is_long,
    next_section,
    only,
    progress,
    readable_numbers,
    rule_limits,
    running_totals,
    shown_answer,
    summary,
)


def _q(qid: str, kind: str = "integer", answer: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": qid, "type": kind, "text": f"{qid}?", "visible": True, "answer": answer, **extra}


def _long_view() -> QuestionnaireView:
    """Three sections, 30 questions, the middle one hidden by the answers."""
    first = [_q(f"a{i}", answer=i if i < 4 else None) for i in range(11)]
    hidden = [_q(f"b{i}", visible=False) for i in range(9)]
    last = [_q(f"c{i}") for i in range(10)]
    return {
        "id": "q9",
        "title": "Long",
        "sections": [
            {"id": "one", "title": "One", "visible": True, "questions": first},  # type: ignore[typeddict-item]
            {"id": "two", "title": "Two", "visible": False, "questions": hidden},  # type: ignore[typeddict-item]
            {"id": "three", "title": "Three", "visible": True, "questions": last},  # type: ignore[typeddict-item]
        ],
        "missing": [{"question": "a5", "reason": "required"}],
    }


def test_a_long_questionnaire_is_answered_a_section_at_a_time() -> None:
    view = _long_view()
    assert is_long(view)
    assert not is_long(service_view({}, 1))  # type: ignore[arg-type]
    assert [(p.title, p.answered, p.shown, p.status) for p in progress(view)] == [
        ("One", 4, 11, "In progress"),
        ("Three", 0, 10, "Not started"),
    ]
    assert next_section(view, "one") == "three"  # the hidden section is skipped
    assert next_section(view, "three") is None
    shown = only(view, "three")
    assert [s["id"] for s in shown["sections"] if s.get("visible")] == ["three"]


def test_answers_are_shown_as_people_read_them() -> None:
    options = [
        {"value": "age_0_4", "label": "0 to 4 years"},
        {"value": "age_5_10", "label": "5 to 10"},
    ]
    assert shown_answer(_q("m", "money", "760000")) == "£760,000"  # type: ignore[arg-type]
    assert shown_answer(_q("w", "decimal", "2.50")) == "2.5"  # type: ignore[arg-type]
    assert shown_answer(_q("p", "percentage", 12)) == "12%"  # type: ignore[arg-type]
    assert shown_answer(_q("y", "yes_no", False)) == "No"  # type: ignore[arg-type]
    assert shown_answer(_q("d", "date", "2010-02-06")) == "6 February 2010"  # type: ignore[arg-type]
    ages = _q("a", "multiple_choice", ["age_0_4", "age_5_10"], options=options)
    assert shown_answer(ages) == "0 to 4 years, 5 to 10"  # type: ignore[arg-type]
    scale = _q("s", "scored_scale", {"score": 2, "evidence": "Audit"}, levels={"2": "Developing"})
    assert shown_answer(scale) == "2 \N{EN DASH} Developing. Evidence: Audit"  # type: ignore[arg-type]
    assert shown_answer(_q("n", "integer")) == "Not answered"  # type: ignore[arg-type]
    rows = summary(_long_view())
    assert [s.title for s in rows] == ["One", "Three"]
    assert (rows[0].rows[1].answer, rows[0].rows[5].answered) == ("1", False)


def test_a_rule_message_shows_its_numbers_as_people_write_them() -> None:
    message = "Must add up (the parts add up to 760000.00, the total is 700000.5) in 2009-10"
    assert readable_numbers(message) == (
        "Must add up (the parts add up to 760,000, the total is 700,000.5) in 2009-10"
    )


def test_a_sum_rule_has_a_running_total_from_the_form_and_other_pages() -> None:
    view = _long_view()
    view["rules"] = [
        {"id": "adds_up", "kind": "sum_equals", "parts": ["a1", "a2", "c1"], "total": "c0"},
    ]
    values = {"q.c1": "1,000.5", "q.c0": "1003"}  # a1 and a2 are on another page: 1 and 2
    running = running_totals(view, values, on_page={"c0", "c1"})["c0"]
    assert (running.parts_sum, running.total_value, running.adds_up) == ("1,003.5", "1,003", False)
    assert running.elsewhere == "3"
    values["q.c0"] = "1003.5"
    assert running_totals(view, values, on_page={"c0", "c1"})["c0"].adds_up is True
    values["q.c0"] = ""
    assert running_totals(view, values, on_page={"c0", "c1"})["c0"].adds_up is None


def test_a_no_more_than_rule_shows_its_whole_beside_the_part() -> None:
    view = _long_view()  # a3 is stored as 3, on another page
    view["rules"] = [
        {"id": "within", "kind": "less_or_equal", "left": "c1", "right": "a3", "message": "No"},
        {"id": "here", "kind": "less_or_equal", "left": "c2", "right": "c3", "message": "No"},
        {"id": "elsewhere", "kind": "less_or_equal", "left": "a1", "right": "c3"},
    ]
    limits = rule_limits(view, {"q.c1": "4", "q.c2": "1,500", "q.c3": "1,400"}, {"c1", "c2", "c3"})
    assert set(limits) == {"c1", "c2"}  # a rule whose part is on another page is not shown
    within = limits["c1"]
    assert (within.right_value, within.right_stored, within.right_text) == ("3", "3", "a3?")
    assert within.within is False and within.message == "No"
    assert (limits["c2"].right_value, limits["c2"].within) == ("1,400", False)
    typed = {"q.c1": "3", "q.c2": "", "q.c3": ""}
    again = rule_limits(view, typed, {"c1", "c2", "c3"})
    assert again["c1"].within is True
    assert (again["c2"].right_value, again["c2"].within) == (None, None)  # not answered yet


def test_the_service_record_fills_in_camhs_and_age_ranges_not_yet_answered() -> None:
    ages = [
        {"value": v, "label": v}
        for v in ("antenatal", "age_0_4", "age_5_10", "age_11_15", "age_16_17", "age_18_19")
    ]
    tiers = [{"value": str(t), "label": str(t)} for t in (1, 2, 3, 4)]
    view: QuestionnaireView = {
        "sections": [
            {
                "id": "s",
                "questions": [  # type: ignore[list-item]
                    _q("camhs", "yes_no"),
                    _q("camhs_tier", "single_choice", options=tiers),
                    _q("age_bands", "multiple_choice", options=ages),
                ],
            }
        ]
    }
    record = ServiceRecord.model_validate(
        {
            "service_id": "s1",
            "version": 1,
            "cycle": "2009-10",
            "status": "active",
            "name": "Riverside",
            "camhs": True,
            "camhs_tier": 3,
            "client_group": {"age_min": 4, "age_max": 11},
        }
    )
    found = from_record(view, record)
    assert found == {
        "camhs": True,
        "camhs_tier": "3",
        "age_bands": ["age_0_4", "age_5_10", "age_11_15"],
    }
    answered = with_answers(view, {"camhs": False})
    assert "camhs" not in from_record(answered, record)  # an answer given is never replaced


# --- pages over the fake services ------------------------------------------------------------


def _with_delegate(app: FastAPI) -> FastAPI:
    """The fake questionnaire service, also opened by a delegate's link (token "tok")."""
    state = app.state.data
    state.setdefault("returned", [])
    state.setdefault("warnings", [])

    def view(version: int) -> dict[str, Any]:
        shown = service_view(state["answers"], version)
        shown["warnings"] = list(state["warnings"])
        shown["comment_from_lead"] = "Please add the workforce"
        return shown

    @app.get("/delegate/questionnaire")
    async def opened() -> Any:
        return {"id": "q1"}

    @app.get("/delegate/questionnaires/q1")
    async def delegate_view() -> Any:
        return view(state["version"])

    @app.patch("/delegate/questionnaires/q1/answers")
    async def delegate_save(request: Request) -> Any:
        body = await request.json()
        state["saves"].append(body["answers"])
        if body["answers"].get("camhs") not in (None, True, False):
            return refusal(422, "bad", {"field": "camhs", "reason": "answer yes or no"})
        state["answers"].update({k: v for k, v in body["answers"].items() if v is not None})
        state["version"] += 1
        return {"version": state["version"]}

    @app.post("/delegate/questionnaires/q1/return")
    async def delegate_return(request: Request) -> Any:
        state["returned"].append(((await request.json())["comment"], dict(state["answers"])))
        return view(state["version"])

    return app


def _delegate_portal() -> tuple[FastAPI, dict[str, Any]]:
    app, fakes = portal(questionnaire=_with_delegate(questionnaire()))
    return app, fakes["questionnaire"].state.data


async def test_returning_to_the_lead_saves_what_is_on_the_page_first() -> None:
    app, state = _delegate_portal()
    async with browser(app) as client:
        page = await client.get("/delegate/tok")
        assert "Please add the workforce" in page.text  # the lead's note
        assert "Sign in" not in page.text  # a delegate has no account
        r = await client.post(
            "/delegate/tok",
            data={
                "version": "1",
                "present": "camhs",
                "q.camhs": "no",
                "action": "return",
                "comment": "All done",
            },
        )
    assert r.status_code == 200 and "Questionnaire returned" in r.text
    assert state["saves"] == [{"camhs": False}]
    assert state["returned"] == [("All done", {"camhs": False})]


async def test_a_return_whose_answers_are_refused_is_not_returned() -> None:
    app, state = _delegate_portal()
    async with browser(app) as client:
        r = await client.post(
            "/delegate/tok",
            data={"version": "1", "present": "camhs", "q.camhs": "perhaps", "action": "return"},
        )
    assert r.status_code == 422
    assert state["returned"] == []


async def test_a_return_with_rules_not_met_shows_them_first_then_goes_ahead() -> None:
    app, state = _delegate_portal()
    state["warnings"] = [{"question": "camhs", "reason": "The parts must add up", "rule": "r"}]
    async with browser(app) as client:
        r = await client.post(
            "/delegate/tok",
            data={
                "version": "1",
                "present": "camhs",
                "q.camhs": "yes",
                "action": "return",
                "comment": "Done",
            },
        )
        assert "Check your answers" in r.text and "The parts must add up" in r.text
        assert 'value="yes"' in r.text and ">Done</textarea>" in r.text  # the note is kept
        assert state["returned"] == []
        confirmed = await client.post(
            "/delegate/tok/return", data={"version": "2", "checked": "yes", "comment": "Done"}
        )
    assert "Questionnaire returned" in confirmed.text
    assert state["returned"] == [("Done", {"camhs": True})]


async def test_asking_someone_else_saves_the_page_first() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "no", "action": "delegate"},
        )
    assert r.headers["location"] == "/questionnaires/q1/delegate"
    assert fakes["questionnaire"].state.data["saves"] == [{"camhs": False}]


async def test_check_your_answers_then_submit_with_the_primary_button() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "no", "action": "continue"},
        )
        assert r.headers["location"] == "/questionnaires/q1/check"  # no follow-up appeared
        check = await client.get("/questionnaires/q1/check")
        assert "Is it a CAMHS service?" in check.text
        assert re.search(r"summary-list__value\">\s*No\s*<", check.text)
        assert 'href="/questionnaires/q1#q-camhs"' in check.text  # its Change link
        assert "govuk-button--warning" not in check.text
        submitted = await client.post("/questionnaires/q1", data={"action": "submit"})
    assert submitted.headers["location"] == "/returns/2009-10?done=submitted"
    assert fakes["questionnaire"].state.data["saves"] == [{"camhs": False}]  # nothing more


async def test_submitting_from_the_check_page_too_soon_links_each_missing_answer() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "action": "draft"},
        )
        r = await client.post("/questionnaires/q1", data={"action": "submit"})
    assert r.status_code == 422 and "Check your answers" in r.text
    assert summary_links(r.text) == [
        ("/questionnaires/q1#q-camhs_tier", "Which CAMHS tier?: Answer this question")
    ]


async def test_a_questionnaire_prints_with_its_answers() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "action": "draft"},
        )
        r = await client.get("/questionnaires/q1/print")
        page = await client.get("/questionnaires/q1")
    assert r.status_code == 200 and "Is it a CAMHS service?" in r.text and "Yes" in r.text
    assert 'href="/questionnaires/q1/print"' in page.text
    assert "questionnaire.css" in r.text  # the print stylesheet
