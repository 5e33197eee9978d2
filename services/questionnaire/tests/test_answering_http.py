"""Answering over HTTP: saving drafts as events, bad answers named, concurrent edits refused
with what changed, follow-ups, submission, and the data-entry window."""

import json
from datetime import timedelta
from typing import Any

import asyncpg


async def open_cycle(q: Any, *orgs: tuple[str, str]) -> None:
    for code, kind in orgs:
        await q.register(code, kind)
    await q.schedule()
    await q.move_to(q.OPEN)


async def save(q: Any, qid: str, version: int, answers: dict, headers: dict) -> Any:
    return await q.client.patch(
        f"/questionnaires/{qid}/answers",
        headers=headers,
        json={"version": version, "answers": answers},
    )


async def service_questionnaire(q: Any, org: str, **kw: Any) -> dict[str, Any]:
    await q.map_service(org, **kw)
    return await q.one(org, "service")


async def test_answers_are_saved_as_events_with_old_and_new_values(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_events") as q:
        await open_cycle(q, ("PCT1", "pct"))
        sa = await q.one("PCT1", "self-assessment")
        assert sa["status"] == "not-started" and sa["version"] == 1 and sa["can_edit"]
        r = await save(
            q,
            sa["id"],
            1,
            {"s1q1": 2, "s1q2": {"score": 3, "evidence": "JSNA 2009"}},
            q.lead("PCT1"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 2 and body["status"] == "in-progress"
        # A save's reply is what changed and where things stand, not the questions again.
        assert body["changed"] == ["s1q1", "s1q2"] and "sections" not in body
        assert body["answers"]["s1q2"] == {"score": 3, "evidence": "JSNA 2009"}
        full = (await q.client.get(f"/questionnaires/{sa['id']}", headers=q.lead("PCT1"))).json()
        assert full["sections"][0]["questions"][1]["answer"] == body["answers"]["s1q2"]
        r = await save(q, sa["id"], 2, {"s1q1": 3}, q.lead("PCT1"))
        assert r.json()["version"] == 3
        # Saving the same values again changes nothing and writes no event.
        r = await save(q, sa["id"], 3, {"s1q1": 3}, q.lead("PCT1"))
        assert r.json()["version"] == 3
        history = (
            await q.client.get(f"/questionnaires/{sa['id']}/history", headers=q.lead("PCT1"))
        ).json()
        assert [h["event"] for h in history] == [
            "QuestionnaireIssued",
            "AnswersSaved",
            "AnswersSaved",
        ]
        assert history[2]["changes"] == [
            {
                "question": "s1q1",
                "old": {"score": 2, "evidence": None},
                "new": {"score": 3, "evidence": None},
            }
        ]
        assert history[2]["actor"].startswith("user:")
        # The grades follow the answers: one topic answered.
        assert r.json()["grades"]["topics"]["s1"] == "dark-green"  # two answers, both 3


async def test_bad_answers_are_refused_naming_each_question_and_nothing_is_saved(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_ans_bad") as q:
        await open_cycle(q, ("TR1", "nhs-trust-community"))
        sq = await service_questionnaire(q, "TR1")
        r = await save(
            q,
            sq["id"],
            sq["version"],
            {
                "wte_total": "lots",  # wrong type
                "investment_total": -5,  # below the minimum
                "no_such_question": 1,  # unknown
                "camhs_tier": "2",  # a CAMHS follow-up, hidden: camhs is unanswered
            },
            q.lead("TR1"),
        )
        assert r.status_code == 422, r.text
        fields = {d["field"]: d["reason"] for d in r.json()["details"]}
        assert set(fields) == {"wte_total", "investment_total", "no_such_question"}
        assert "number" in fields["wte_total"] and "at least 0" in fields["investment_total"]
        r = await save(q, sq["id"], sq["version"], {"camhs_tier": "2"}, q.lead("TR1"))
        assert r.status_code == 422
        [detail] = r.json()["details"]
        assert detail["field"] == "camhs_tier" and "camhs == true" in detail["reason"]
        again = (await q.client.get(f"/questionnaires/{sq['id']}", headers=q.lead("TR1"))).json()
        assert again["version"] == sq["version"] and again["answered"] == 0


async def test_a_follow_up_appears_with_its_trigger_and_a_hidden_answer_stops_counting(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_ans_follow") as q:
        await open_cycle(q, ("TR1", "nhs-trust-mental-health"))
        sq = await service_questionnaire(q, "TR1")
        questions = {x["id"]: x for s in sq["sections"] for x in s["questions"]}
        assert questions["camhs_tier"]["visible"] is False
        r = await save(
            q, sq["id"], sq["version"], {"camhs": True, "camhs_tier": "3"}, q.lead("TR1")
        )
        assert r.status_code == 200, r.text
        assert "camhs_tier" in r.json()["visible"] and r.json()["answers"]["camhs_tier"] == "3"
        # Not a CAMHS service after all: the tier is hidden, kept, and no longer counts.
        r = await save(q, sq["id"], r.json()["version"], {"camhs": False}, q.lead("TR1"))
        assert "camhs_tier" not in r.json()["visible"]
        assert r.json()["answers"]["camhs_tier"] == "3"  # kept in the stored answers
        assert "camhs_tier" not in {m["question"] for m in r.json()["missing"]}
        view = (await q.client.get(f"/questionnaires/{sq['id']}", headers=q.lead("TR1"))).json()
        questions = {x["id"]: x for s in view["sections"] for x in s["questions"]}
        assert questions["camhs_tier"]["visible"] is False
        assert questions["camhs_tier"]["answer"] == "3"


async def test_concurrent_edits_the_second_gets_409_with_what_changed(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_conflict") as q:
        await open_cycle(q, ("PCT1", "pct"))
        sa = await q.one("PCT1", "self-assessment")
        first = await save(q, sa["id"], 1, {"s2q1": 1}, q.lead("PCT1"))
        assert first.status_code == 200
        second = await save(q, sa["id"], 1, {"s2q1": 3}, q.lead("PCT1"))
        assert second.status_code == 409
        body = second.json()
        assert "changed since version 1" in body["error"]
        [change] = body["details"]
        assert change["field"] == "s2q1" and change["new"] == {"score": 1, "evidence": None}
        assert change["by"].startswith("user:") and change["version"] == 2
        # No lost update: the first answer stands until someone saves over it knowingly.
        now = (await q.client.get(f"/questionnaires/{sa['id']}", headers=q.lead("PCT1"))).json()
        assert now["sections"][1]["questions"][0]["answer"]["score"] == 1
        # A save without a version is refused: it could overwrite unseen changes.
        r = await q.client.patch(
            f"/questionnaires/{sa['id']}/answers",
            headers=q.lead("PCT1"),
            json={"answers": {"s2q1": 2}},
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "version"


async def test_submit_lists_what_is_missing_then_locks_the_questionnaire(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_submit") as q:
        await open_cycle(q, ("TR1", "nhs-trust-acute"))
        sq = await service_questionnaire(q, "TR1")
        r = await q.client.post(f"/questionnaires/{sq['id']}/submit", headers=q.lead("TR1"))
        assert r.status_code == 422
        missing = [d["field"] for d in r.json()["details"]]
        assert "camhs" in missing and "wte_total" in missing
        complete = complete_service_answers()
        r = await save(q, sq["id"], sq["version"], {**complete, "wte_total": 99}, q.lead("TR1"))
        assert r.status_code == 200, r.text
        assert {w["rule"] for w in r.json()["warnings"]} == {"workforce_adds_up"}
        r = await q.client.post(f"/questionnaires/{sq['id']}/submit", headers=q.lead("TR1"))
        assert r.status_code == 422
        assert [d.get("rule") for d in r.json()["details"]] == ["workforce_adds_up"]
        version = (await q.client.get(f"/questionnaires/{sq['id']}", headers=q.lead("TR1"))).json()[
            "version"
        ]
        r = await save(q, sq["id"], version, {"wte_total": complete["wte_total"]}, q.lead("TR1"))
        assert r.json()["missing"] == [] and r.json()["warnings"] == []
        r = await q.client.post(f"/questionnaires/{sq['id']}/submit", headers=q.lead("TR1"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "submitted" and not r.json()["can_edit"]
        r = await save(q, sq["id"], r.json()["version"], {"wte_total": 1}, q.lead("TR1"))
        assert r.status_code == 409 and "withdraw" in r.json()["error"]
        conn = await asyncpg.connect(q.dsn)
        try:
            data = await conn.fetchval(
                "SELECT data FROM events WHERE type = 'questionnaire.ResponseSubmitted'"
            )
        finally:
            await conn.close()
        assert '"wte_total": 10' in data or '"wte_total":10' in data


def complete_service_answers() -> dict[str, Any]:
    """Every required question of the shipped service questionnaire, consistently answered."""
    from questionnaire.application.catalogue import shipped_catalogue
    from questionnaire.domain import answers as rules

    definition = shipped_catalogue().get("service")
    answers: dict[str, Any] = {"camhs": False}
    for question in definition.questions.values():
        if not question.required or question.id in answers or question.show_if is not None:
            continue
        t = question.type.value
        if t in ("single_choice",):
            answers[question.id] = question.options[0].value
        elif t == "multiple_choice":
            answers[question.id] = [question.options[0].value]
        elif t == "yes_no":
            answers[question.id] = False
        elif t in ("integer", "decimal", "money", "percentage"):
            answers[question.id] = 0
        elif t == "date":
            answers[question.id] = "2009-04-01"
        elif t == "text":
            answers[question.id] = "text"
        else:
            answers[question.id] = 1
    answers.update(wte_total=10, wte_nursing=6, wte_medical=4)
    answers.update(investment_total=0)
    problems = rules.submission_problems(definition, rules.apply(definition, {}, answers)[0])
    assert not problems, problems
    return answers


async def test_after_the_close_answers_are_refused_unless_extended_or_reopened(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_ans_close") as q:
        await open_cycle(q, ("PCT1", "pct"), ("PCT2", "pct"), ("PCT3", "pct"))
        ids = {org: (await q.one(org, "self-assessment"))["id"] for org in ("PCT1", "PCT2", "PCT3")}
        await q.move_to(q.AFTER_CLOSE)
        r = await save(q, ids["PCT1"], 1, {"s1q1": 2}, q.lead("PCT1"))
        assert r.status_code == 409 and "closed" in r.json()["error"]
        # An extension (an event with its reason) lets one organisation go on.
        until = (q.AFTER_CLOSE + timedelta(days=7)).isoformat()
        r = await q.client.post(
            "/cycles/2009-10/returns/PCT2/extension",
            headers=q.admin,
            json={"until": until, "reason": "flooding at HQ"},
        )
        assert r.status_code == 200, r.text
        assert (await save(q, ids["PCT2"], 1, {"s1q1": 2}, q.lead("PCT2"))).status_code == 200
        # A reopened return too.
        r = await q.client.post(
            "/cycles/2009-10/returns/PCT3/reopen",
            headers=q.admin,
            json={"reason": "late data from a provider"},
        )
        assert r.status_code == 200, r.text
        assert (await save(q, ids["PCT3"], 1, {"s1q1": 2}, q.lead("PCT3"))).status_code == 200
        # When the extension runs out, the door closes again.
        q.clock.set(q.AFTER_CLOSE + timedelta(days=8))
        r = await save(q, ids["PCT2"], 2, {"s1q1": 3}, q.lead("PCT2"))
        assert r.status_code == 409 and "extension" in r.json()["error"]
        # An extension must end after the close, and only the national team grants one.
        r = await q.client.post(
            "/cycles/2009-10/returns/PCT1/extension",
            headers=q.admin,
            json={"until": "2010-01-01T00:00:00+00:00", "reason": "x"},
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "until"
        r = await q.client.post(
            "/cycles/2009-10/returns/PCT1/extension",
            headers=q.lead("PCT1"),
            json={"until": until, "reason": "x"},
        )
        assert r.status_code == 403
        r = await q.client.post(
            "/cycles/2009-10/returns/NOPE/extension",
            headers=q.admin,
            json={"until": until, "reason": "x"},
        )
        assert r.status_code == 404


async def test_before_data_entry_opens_nothing_is_owed_or_saved(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_early") as q:
        await q.register("PCT1", "pct")
        await q.schedule()
        await q.move_to(q.OPEN - timedelta(days=30))  # the sandbox phase
        assert await q.owed("PCT1") == []


async def test_who_may_see_and_answer(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_roles") as q:
        await open_cycle(q, ("TR1", "nhs-trust-community"), ("TR2", "nhs-trust-community"))
        await q.map_service("TR1", group="G1")
        sq = await q.one("TR1", "service")
        url = f"/questionnaires/{sq['id']}"
        owner = q.as_("group-owner", org="TR1", group="G1")
        other_owner = q.as_("group-owner", org="TR1", group="G2")
        assert (await q.client.get(url, headers=owner)).status_code == 200
        assert (await save(q, sq["id"], sq["version"], {"camhs": False}, owner)).status_code == 200
        assert (await q.client.get(url, headers=other_owner)).status_code == 404
        assert (await q.client.get(url, headers=q.lead("TR2"))).status_code == 404
        assert (await q.client.get(url, headers=q.admin)).status_code == 200
        assert (await q.client.get(url, headers=q.as_("auditor"))).status_code == 200
        assert (await q.client.get(url, headers=q.as_("regulator"))).status_code == 403
        assert (await q.client.get(url)).status_code == 401
        r = await save(q, sq["id"], 2, {"camhs": True}, q.admin)
        assert r.status_code == 403
        # Listing: a group owner sees only their group's questionnaires.
        r = await q.client.get("/questionnaires", params={"cycle": "2009-10"}, headers=other_owner)
        assert r.json() == []
        r = await q.client.get(
            "/questionnaires", params={"organisation_id": "TR2"}, headers=q.lead("TR1")
        )
        assert r.status_code == 404
        r = await q.client.get(
            "/questionnaires", params={"organisation_id": "TR1"}, headers=q.admin
        )
        assert [x["id"] for x in r.json()] == [sq["id"]]


async def test_a_submitted_self_assessment_carries_its_scorecard(questionnaire_app) -> None:
    async with questionnaire_app("q_ans_scorecard") as q:
        await open_cycle(q, ("PCT1", "pct"))
        sa = await q.one("PCT1", "self-assessment")
        await q.complete("PCT1", sa, score=3)
        conn = await asyncpg.connect(q.dsn)
        try:
            data = await conn.fetchval(
                "SELECT data FROM events WHERE type = 'questionnaire.ResponseSubmitted'"
            )
        finally:
            await conn.close()
        scorecard = json.loads(data)["scorecard"]
        # Every answer is 3 (more than two-thirds good to best practice): dark green throughout.
        assert set(scorecard["topics"].values()) == {"dark-green"}
        assert len(scorecard["topics"]) == 6 and scorecard["overall"] == "green"
