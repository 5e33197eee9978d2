"""The sandbox: anyone, any time; follow-ups, validation and grades live; nothing saved."""

import asyncpg


async def test_the_sandbox_needs_no_account_and_saves_nothing(questionnaire_app) -> None:
    async with questionnaire_app("q_sandbox") as q:
        r = await q.client.get("/definitions")
        assert {d["ref"] for d in r.json()} == {
            "service@1",
            "camhs-partnership@1",
            "childrens-trust@1",
            "commissioning-self-assessment@1",
        }
        blank = (await q.client.get("/definitions/service")).json()
        shown = {x["id"]: x["visible"] for s in blank["sections"] for x in s["questions"]}
        assert shown["camhs"] and not shown["camhs_tier"]
        r = await q.client.post(
            "/sandbox/service",
            json={
                "answers": {
                    "camhs_tier": "2",
                    "camhs": True,
                    "wte_total": "many",
                    "wte_medical": 2,
                },
            },
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["saved"] is False
        assert out["errors"] == [{"question": "wte_total", "reason": "must be a number"}]
        shown = {
            x["id"]: (x["visible"], x["answer"]) for s in out["sections"] for x in s["questions"]
        }
        assert shown["camhs_tier"] == (True, "2")  # the follow-up appeared with its trigger
        assert "camhs" not in {m["question"] for m in out["missing"]}
        conn = await asyncpg.connect(q.dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
        finally:
            await conn.close()


async def test_the_sandbox_grades_a_self_assessment_and_scores_ni51(questionnaire_app) -> None:
    async with questionnaire_app("q_sandbox_grades") as q:
        ones = {f"s1q{n}": 1 for n in range(1, 5)}  # 4 of 11 score 1: more than a third -> red
        out = (
            await q.client.post("/sandbox/commissioning-self-assessment", json={"answers": ones})
        ).json()
        assert out["grades"]["topics"]["s1"] == "red" and out["grades"]["overall"] is None
        ni51 = {
            "learning_disabilities": 4,
            "urgent_24_hour_cover": 3,
            "age_16_17": 2,
            "early_intervention": 1,
        }
        out = (
            await q.client.post("/sandbox/camhs-partnership", json={"answers": ni51, "area": "LA9"})
        ).json()
        assert out["ni51"]["score"] == 10 and out["ni51"]["area"] == "LA9"
        r = await q.client.post("/sandbox/no-such-thing", json={"answers": {}})
        assert r.status_code == 404 and "no-such-thing" in r.json()["error"]
