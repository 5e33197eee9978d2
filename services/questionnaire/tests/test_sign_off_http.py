"""Signing off a return: only when everything is submitted and by the close; what the
regulator gets; the lock; reopening and a superseding sign-off."""

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg


async def la_with_everything_submitted(q: Any, org: str = "LA1", score: int = 3) -> list[Any]:
    await q.register(org, "local-authority")
    await q.schedule()
    await q.move_to(q.OPEN)
    done = []
    for item in await q.owed(org):
        view = (await q.client.get(f"/questionnaires/{item['id']}", headers=q.lead(org))).json()
        done.append(await q.complete(org, view, score))
    return done


async def sign_off(q: Any, org: str = "LA1") -> Any:
    return await q.client.post(
        f"/cycles/2009-10/returns/{org}/sign-off", headers=q.lead(org), json={"confirm": True}
    )


async def test_a_sign_off_carries_what_the_regulator_needs(questionnaire_app) -> None:
    async with questionnaire_app("q_sign_content") as q:
        await la_with_everything_submitted(q, score=3)
        status = (await q.client.get("/cycles/2009-10/returns/LA1", headers=q.lead("LA1"))).json()
        assert status["can_sign_off"] and status["questionnaires_issued"] == 2
        assert status["by_status"] == {"submitted": 2} and status["outstanding"] == []
        r = await sign_off(q)
        assert r.status_code == 200, r.text
        signed = r.json()
        assert signed["organisation_id"] == "LA1" and signed["cycle"] == "2009-10"
        assert signed["organisation_name"] == "Organisation LA1"
        assert signed["signed_off_by"].startswith("user:") and signed["supersedes"] is None
        assert signed["questionnaires_submitted"] == 2 and signed["answers_count"] >= 10
        [ni51] = signed["ni51"]
        assert ni51 == {
            "area": "LA1",
            "learning_disabilities": 3,
            "urgent_24_hour_cover": 3,
            "age_16_17": 3,
            "early_intervention": 3,
            "score": 12,
        }
        # The stream heads are the hashes the store holds: anyone can check the history
        # the regulator was given.
        conn = await asyncpg.connect(q.dsn)
        try:
            for stream, head in signed["stream_heads"].items():
                rows = await conn.fetch(
                    "SELECT hash FROM events WHERE stream_id = $1 ORDER BY stream_version", stream
                )
                assert rows[-1]["hash"] == head
            assert len(signed["stream_heads"]) == 2  # two questionnaires, no return events yet
            event = await conn.fetchrow(
                "SELECT stream_id, data FROM events WHERE type = 'questionnaire.CycleSignedOff'"
            )
        finally:
            await conn.close()
        assert event["stream_id"] == "return-2009-10-LA1"
        assert json.loads(event["data"])["ni51"][0]["score"] == 12


async def test_no_sign_off_until_every_questionnaire_is_submitted(questionnaire_app) -> None:
    async with questionnaire_app("q_sign_outstanding") as q:
        done = await la_with_everything_submitted(q)
        r = await q.client.post(
            f"/questionnaires/{done[0]['id']}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "one more figure"},
        )
        assert r.status_code == 200 and r.json()["status"] == "in-progress"
        r = await sign_off(q)
        assert r.status_code == 409
        assert r.json()["details"] == [
            {"field": done[0]["id"], "reason": f"{done[0]['title']}: in-progress"}
        ]
        # Only the organisation's own lead signs off.
        r = await q.client.post(
            "/cycles/2009-10/returns/LA2/sign-off", headers=q.lead("LA1"), json={"confirm": True}
        )
        assert r.status_code == 404
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/sign-off", headers=q.admin, json={"confirm": True}
        )
        assert r.status_code == 403
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/sign-off", headers=q.lead("LA1"), json={"confirm": False}
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "confirm"


async def test_a_signed_off_return_is_locked_until_reopened_and_signing_again_supersedes(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_sign_lock") as q:
        done = await la_with_everything_submitted(q)
        first = (await sign_off(q)).json()
        qid = done[0]["id"]
        r = await q.client.post(
            f"/questionnaires/{qid}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "change"},
        )
        assert r.status_code == 409 and "signed off" in r.json()["error"]
        assert (await sign_off(q)).status_code == 409
        view = (await q.client.get(f"/questionnaires/{qid}", headers=q.lead("LA1"))).json()
        assert not view["can_edit"] and view["signed_off_at"] is not None
        # The national team reopens it with a reason; the lead changes an answer and signs off
        # again, which supersedes the first sign-off.
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen",
            headers=q.admin,
            json={"reason": "NI 51 evidence queried by CQC"},
        )
        assert r.status_code == 200 and r.json()["signed_off_at"] is None
        r = await q.client.post(
            f"/questionnaires/{qid}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "fix"},
        )
        assert r.status_code == 200
        await q.client.post(f"/questionnaires/{qid}/submit", headers=q.lead("LA1"))
        q.clock.set(q.clock.now() + timedelta(hours=1))
        second = (await sign_off(q)).json()
        assert second["supersedes"] == first["signed_off_at"]
        assert second["signed_off_at"] > first["signed_off_at"]
        returns = (await q.client.get("/cycles/2009-10/returns", headers=q.as_("regulator"))).json()
        assert [(r["organisation_id"], r["sign_offs"]) for r in returns] == [("LA1", 2)]


async def test_sign_off_after_the_close_needs_an_extension(questionnaire_app) -> None:
    async with questionnaire_app("q_sign_late") as q:
        await la_with_everything_submitted(q)
        await q.move_to(q.AFTER_CLOSE)
        r = await sign_off(q)
        assert r.status_code == 409 and "closed" in r.json()["error"]
        until = (q.AFTER_CLOSE + timedelta(days=3)).isoformat()
        await q.client.post(
            "/cycles/2009-10/returns/LA1/extension",
            headers=q.admin,
            json={"until": until, "reason": "sickness"},
        )
        assert (await sign_off(q)).status_code == 200


async def test_a_save_racing_a_sign_off_cannot_slip_in(questionnaire_app) -> None:
    async with questionnaire_app("q_sign_race") as q:
        done = await la_with_everything_submitted(q)
        stale = done[0]  # the view from before the sign-off
        assert (await sign_off(q)).status_code == 200
        # A withdrawal decided from the state before the sign-off (the row is now locked).
        services = q.services
        loaded = await services.questionnaire_repo.load(stale["id"])
        from csm_kernel.store import AppendContext
        from questionnaire.domain import questionnaire as decide
        from questionnaire.domain.errors import ReturnLocked

        events = decide.withdraw_submission(loaded.questionnaire, "sneaky")
        try:
            await services.questionnaire_repo.save(
                loaded.questionnaire, events, AppendContext(actor="test"), q.clock.now()
            )
        except ReturnLocked:
            pass
        else:
            raise AssertionError("a save after sign-off went through")


async def test_reopening_a_signed_off_return_withdraws_its_sign_off_on_the_public_topic(
    questionnaire_app,
) -> None:
    from csm_contracts import Topics

    async with questionnaire_app("q_sign_withdrawn") as q:
        done = await la_with_everything_submitted(q)
        first = (await sign_off(q)).json()
        q.clock.set(q.clock.now() + timedelta(minutes=5))
        reason = "NI 51 evidence queried by CQC"
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen", headers=q.admin, json={"reason": reason}
        )
        assert r.status_code == 200, r.text
        conn = await asyncpg.connect(q.dsn)
        try:
            rows = await conn.fetch(
                "SELECT event_id, type, stream_version, correlation_id, actor, data FROM events "
                "WHERE stream_id = 'return-2009-10-LA1' ORDER BY stream_version"
            )
        finally:
            await conn.close()
        assert [row["type"] for row in rows] == [
            "questionnaire.CycleSignedOff",
            "questionnaire.ReturnReopened",
            "questionnaire.SignOffWithdrawn",
        ]
        signed, reopened, withdrawn = rows
        # Recorded with the reopening that caused it: one append, one request.
        assert withdrawn["correlation_id"] == reopened["correlation_id"]
        data = json.loads(withdrawn["data"])
        assert data["organisation_id"] == "LA1" and data["cycle"] == "2009-10"
        assert data["reason"] == reason
        assert data["withdrawn_by"] == reopened["actor"] and data["withdrawn_by"].startswith(
            "user:"
        )
        assert datetime.fromisoformat(data["withdrawn_at"]) == q.clock.now()
        assert data["sign_off_event_id"] == str(signed["event_id"])
        assert datetime.fromisoformat(data["signed_off_at"]) == datetime.fromisoformat(
            first["signed_off_at"]
        )
        # The relay routes it where the sign-off went: the regulator's public topic.
        assert Topics.PUBLIC_SIGNOFFS in Topics.for_event(withdrawn["type"])
        assert Topics.for_event(withdrawn["type"]) == Topics.for_event(signed["type"])
        assert Topics.PUBLIC_SIGNOFFS not in Topics.for_event(reopened["type"])

        # The next sign-off names the withdrawn one as the one it supersedes.
        qid = done[0]["id"]
        await q.client.post(
            f"/questionnaires/{qid}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "fix"},
        )
        await q.client.post(f"/questionnaires/{qid}/submit", headers=q.lead("LA1"))
        second = (await sign_off(q)).json()
        assert datetime.fromisoformat(second["supersedes"]) == datetime.fromisoformat(
            data["signed_off_at"]
        )


async def test_reopening_a_return_never_signed_off_withdraws_nothing(questionnaire_app) -> None:
    async with questionnaire_app("q_reopen_unsigned") as q:
        await la_with_everything_submitted(q)
        await q.move_to(q.AFTER_CLOSE)
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen", headers=q.admin, json={"reason": "late data"}
        )
        assert r.status_code == 200, r.text
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen", headers=q.admin, json={"reason": "again"}
        )
        assert r.status_code == 409
        conn = await asyncpg.connect(q.dsn)
        try:
            types = await conn.fetch(
                "SELECT type FROM events WHERE stream_id = 'return-2009-10-LA1' "
                "ORDER BY stream_version"
            )
        finally:
            await conn.close()
        assert [t["type"] for t in types] == ["questionnaire.ReturnReopened"]


async def test_who_reads_a_questionnaires_history(questionnaire_app) -> None:
    """Auditors read every history; regulators what was signed off; others as before."""
    async with questionnaire_app("q_history_roles") as q:
        done = await la_with_everything_submitted(q)
        await q.register("LA2", "local-authority")
        url = f"/questionnaires/{done[0]['id']}/history"

        async def status(headers: dict[str, str]) -> int:
            return (await q.client.get(url, headers=headers)).status_code

        # Before the sign-off: the auditor reads it all, answers, who, when, old → new.
        r = await q.client.get(url, headers=q.as_("auditor"))
        assert r.status_code == 200, r.text
        history = r.json()
        saves = [h for h in history if h["event"] == "AnswersSaved"]
        assert saves and all(h["actor"].startswith("user:") and h["occurred_at"] for h in saves)
        assert all({"question", "old", "new"} <= set(c) for h in saves for c in h["changes"])
        assert history[-1]["event"] == "ResponseSubmitted"
        # ... as the national team and the organisation's own lead do.
        for headers in (q.admin, q.lead("LA1")):
            assert (await q.client.get(url, headers=headers)).json() == history
        # A regulator is refused what is not signed off; another organisation sees nothing.
        r = await q.client.get(url, headers=q.as_("regulator"))
        assert r.status_code == 403 and "not signed off" in r.json()["error"], r.text
        assert await status(q.lead("LA2")) == 404
        assert await status(q.as_("group-owner", org="LA2", group="G1")) == 404

        # Signed off: the regulator reads it, the same history the auditor reads.
        assert (await sign_off(q)).status_code == 200
        auditor = (await q.client.get(url, headers=q.as_("auditor"))).json()
        r = await q.client.get(url, headers=q.as_("regulator"))
        assert r.status_code == 200 and r.json() == auditor
        assert await status(q.lead("LA2")) == 404

        # Reopened: no longer signed off, so refused to the regulator again; not the auditor.
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen", headers=q.admin, json={"reason": "queried"}
        )
        assert r.status_code == 200, r.text
        assert await status(q.as_("regulator")) == 403
        assert await status(q.as_("auditor")) == 200
        # A regulator asking for a questionnaire that does not exist is told so.
        r = await q.client.get("/questionnaires/nope/history", headers=q.as_("regulator"))
        assert r.status_code == 404
