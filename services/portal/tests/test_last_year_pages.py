"""Last year's answers on the portal, over the fake questionnaire service: the questionnaire's
page offers them, a page of its own shows the choice, bringing them in sends the version read
and the person's choice, a refusal shows the page again with the reason, the questionnaire
says how many came; the history's wording (pure)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from portal_fakes import LEAD_TOKEN, browser, portal, questionnaire, refusal

from portal.application.history import history_rows
from portal.entrypoints.web.last_year import brought_in_notice

OFFER = {
    "available": True,
    "cycle": "2009-10",
    "unanswered": ["camhs"],
    "replacing": [],
    "same": [],
    "skipped": [{"question": "hours", "reason": "not asked in 2010-11"}],
    "answers": {"camhs": True},
}


def _with_last_year(app: FastAPI) -> FastAPI:
    state = app.state.data
    state.update(offer=dict(OFFER), brought=[], refuse=None)

    @app.get("/questionnaires/q1/last-year")
    async def offer() -> Any:
        return state["offer"]

    @app.post("/questionnaires/q1/last-year")
    async def bring_in(request: Request) -> Any:
        body = await request.json()
        state["brought"].append(body)
        if state["refuse"]:
            return refusal(409, state["refuse"])
        state["answers"]["camhs"] = True
        state["version"] += 1
        return {"brought_in_from": "2009-10", "changed": ["camhs"], "version": state["version"]}

    return app


def _portal() -> tuple[FastAPI, dict[str, Any]]:
    app, fakes = portal(questionnaire=_with_last_year(questionnaire()))
    return app, fakes["questionnaire"].state.data


async def test_the_lead_sees_the_choice_and_brings_last_years_answers_in() -> None:
    app, state = _portal()
    async with browser(app, LEAD_TOKEN) as client:
        page = await client.get("/questionnaires/q1")
        assert 'id="last-year"' in page.text
        assert "bring in 1 answer from its 2009-10 questionnaire" in page.text
        choice = await client.get("/questionnaires/q1/last-year")
        assert choice.status_code == 200
        assert "Is it a CAMHS service?" in choice.text and "Yes" in choice.text
        assert "Not asked in 2010-11" in choice.text  # what cannot come in, and why
        assert 'name="replace"' not in choice.text  # nothing answered to replace
        r = await client.post("/questionnaires/q1/last-year", data={"version": "1"})
        assert r.status_code == 303
        assert state["brought"] == [{"version": 1, "replace_answered": False}]
        back = r.headers["location"]
        assert back == "/questionnaires/q1?done=brought-in&count=1&cycle=2009-10"
        after = await client.get(back)
        assert "1 answer brought in from 2009-10" in after.text


async def test_replacing_answers_given_now_is_only_done_when_ticked() -> None:
    app, state = _portal()
    state["answers"]["camhs"] = False
    state["offer"].update(unanswered=[], replacing=["camhs"])
    async with browser(app, LEAD_TOKEN) as client:
        page = await client.get("/questionnaires/q1")
        assert "you can choose to replace 1 of your answers" in page.text
        choice = await client.get("/questionnaires/q1/last-year")
        assert 'name="replace"' in choice.text and "Replace this answer" in choice.text
        await client.post("/questionnaires/q1/last-year", data={"version": "1", "replace": "yes"})
        assert state["brought"] == [{"version": 1, "replace_answered": True}]


async def test_a_refusal_shows_the_choice_again_with_the_reason() -> None:
    app, state = _portal()
    state["refuse"] = "questionnaire q1 changed since version 1: review the changes"
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post("/questionnaires/q1/last-year", data={"version": "1"})
        assert r.status_code == 409
        assert "Someone changed this questionnaire since you opened this page" in r.text
        state["refuse"] = "this service was not carried forward from an earlier cycle"
        r = await client.post("/questionnaires/q1/last-year", data={"version": "1"})
        assert "This service was not carried forward from an earlier cycle." in r.text


async def test_no_offer_when_there_is_nothing_to_bring_in() -> None:
    app, state = _portal()
    state["offer"] = {"available": False, "reason": "this service was not carried forward"}
    async with browser(app, LEAD_TOKEN) as client:
        page = await client.get("/questionnaires/q1")
        assert page.status_code == 200 and 'id="last-year"' not in page.text
        choice = await client.get("/questionnaires/q1/last-year")
        assert "This service was not carried forward." in choice.text
        assert 'id="bring-in"' not in choice.text


def test_the_notice_and_the_history_say_where_answers_came_from() -> None:
    assert brought_in_notice("brought-in", "12", "2009-10") == (
        "12 answers brought in from 2009-10. They are saved: check each one and change any "
        "that are different this year."
    )
    # A link made up to show other words shows nothing.
    assert brought_in_notice("brought-in", "1", "<b>next year</b>") is None
    assert brought_in_notice("saved", "1", "2009-10") is None
    assert brought_in_notice("brought-in", "\N{SUPERSCRIPT TWO}", "2009-10") is None
    view: Any = {"sections": [{"questions": [{"id": "camhs", "text": "CAMHS?"}]}]}
    rows = history_rows(
        view,
        [
            {
                "event": "AnswersSaved",
                "actor": "user:a1",
                "changes": [{"question": "camhs", "old": None, "new": True}],
                "brought_in_from": {"cycle": "2009-10", "questionnaire_id": "q0"},
            },
            {"event": "AnswersSaved", "actor": "user:a1", "changes": []},
        ],
    )
    assert [r["brought_in"] for r in rows] == ["2009-10", None]
