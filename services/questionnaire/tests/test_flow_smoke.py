async def test_smoke(questionnaire_app) -> None:
    async with questionnaire_app("q_smoke") as q:
        await q.register("LA1", "local-authority")
        await q.register("PCT1", "pct")
        cycle = await q.schedule()
        assert cycle["phase"] == "scheduled"
        await q.move_to(q.OPEN)
        sid = await q.map_service("PCT1", camhs=True)
        owed = await q.owed("LA1")
        assert {o["kind"] for o in owed} == {"camhs-partnership", "childrens-trust"}
        owed = await q.owed("PCT1")
        assert {o["kind"] for o in owed} == {"self-assessment", "service"}
        sa = await q.one("PCT1", "self-assessment")
        r = await q.client.patch(
            f"/questionnaires/{sa['id']}/answers",
            headers=q.lead("PCT1"),
            json={"version": sa["version"], "answers": {"s1q1": 3}},
        )
        assert r.status_code == 200, r.text
        print(r.json()["grades"], sid)
