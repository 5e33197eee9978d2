"""Hostile input at the questionnaire service (issue #24): NUL, text that is not UTF-8 and huge
numbers answer 422 naming the field, never 500; and what such input left in a store before the
edge refused it (a NUL in an answer, an integer beyond 64 bits) no longer breaks delegating,
reading or the snapshot writer, which sets a row aside that it cannot write instead of retrying
it four times a second for ever."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg

from csm_contracts.events.responses import AnswerChange, AnswersSavedV2
from csm_kernel.store import AppendContext, NewEvent
from questionnaire.adapters.snapshots_pg import Snapshots


async def _service_questionnaire(q: Any, org: str = "TR1") -> dict[str, Any]:
    await q.register(org, "nhs-trust-community")
    await q.schedule()
    await q.move_to(q.OPEN)
    await q.map_service(org)
    return await q.one(org, "service")


def _fields(r: Any) -> list[str]:
    assert r.status_code == 422, (r.status_code, r.text)
    return [d["field"] for d in r.json()["details"]]


async def test_the_probes_of_issue_24_answer_422_naming_the_field(questionnaire_app) -> None:
    async with questionnaire_app("q_hostile") as q:
        sq = await _service_questionnaire(q)
        lead, c = q.lead("TR1"), q.client
        assert _fields(await c.get("/questionnaires/%00", headers=lead)) == [
            "path.questionnaire_id"
        ]
        assert _fields(await c.get("/questionnaires?q=%ff%fe%00", headers=lead)) == ["query.q"]
        assert _fields(await c.get("/questionnaires?cycle=%ff%fe%00", headers=lead)) == [
            "query.cycle"
        ]
        url = f"/questionnaires/{sq['id']}/answers"

        async def save(answers: dict[str, Any], version: int = sq["version"]) -> Any:
            return await c.patch(url, headers=lead, json={"version": version, "answers": answers})

        r = await save({"caseload_total": 10**30})
        assert _fields(r) == ["caseload_total"]
        assert r.json()["details"][0]["reason"] == "must be at most 1000000000000"
        r = await save({"caseload_total": 3}, version=10**30)
        assert _fields(r) == ["version"]
        for money in ("1e400", 1e300, "99999999999999.99"):
            assert _fields(await save({"investment_nhs": money})) == ["investment_nhs"]
        assert _fields(await save({"wte_nursing": 10**13 + 0.5})) == ["wte_nursing"]
        answers = {"client_groups": ["other"], "client_groups_other": "a\u0000b"}
        assert _fields(await save(answers)) == ["answers.client_groups_other"]
        r = await c.post(
            f"/questionnaires/{sq['id']}/delegations",
            headers=lead,
            json={"email": "m@example.org", "message": "x\u0000y"},
        )
        assert _fields(r) == ["message"]
        # Numbers within bounds, and the largest allowed, still save.
        r = await save({"caseload_total": 10**12})
        assert r.status_code == 200, r.text
        r = await c.post(
            "/sandbox/service@1", json={"answers": {"caseload_total": 10**30}, "area": "SANDBOX"}
        )
        assert r.status_code == 200 and r.json()["errors"][0]["question"] == "caseload_total"
        r = await c.post("/sandbox/service@1", json={"answers": {}, "area": "x" * 21})
        assert _fields(r) == ["area"]


async def _store_answers(q: Any, sq: dict[str, Any], answers: dict[str, Any]) -> None:
    """Answers appended straight to the store, as the API once let through."""
    repo = q.services.questionnaire_repo
    loaded = await repo.load(sq["id"])
    before = loaded.questionnaire
    event = AnswersSavedV2(
        organisation_id=before.organisation_id,
        cycle=before.cycle,
        questionnaire_id=before.id,
        changes=[AnswerChange(question=k, new=v) for k, v in answers.items()],
        answered=None,
    )
    await repo.store.append(
        before.stream_id, before.version, [NewEvent.from_payload(event)], AppendContext(actor="t")
    )


async def test_what_an_older_api_let_into_the_store_no_longer_breaks_anything(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_stored_poison") as q:
        sq = await _service_questionnaire(q)
        await _store_answers(q, sq, {"client_groups_other": "a\u0000b", "caseload_total": 10**30})
        lead = q.lead("TR1")
        # Reading it answers.
        r = await q.client.get(f"/questionnaires/{sq['id']}", headers=lead)
        assert r.status_code == 200, r.text
        # Delegating it (which writes the row) was a 500.
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations",
            headers=lead,
            json={"email": "manager@trust.nhs.uk", "message": "Over to you"},
        )
        assert r.status_code == 201, r.text
        # The snapshot writer writes the row: NUL as U+FFFD, the number as it is.
        snapshots = q.services.snapshots
        await snapshots.flush()
        assert snapshots.pending == 0 and snapshots.poison.skipped == 0
        row = await q.app.state.runtime.require_pool().fetchrow(
            "SELECT version, answers->>'client_groups_other' AS other, "
            "answers->>'caseload_total' AS total FROM questionnaires WHERE id = $1",
            sq["id"],
        )
        assert row["other"] == "a\ufffdb" and row["total"] == str(10**30)


async def test_the_snapshot_writer_sets_a_poison_row_aside_and_writes_the_others(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_snapshot_poison") as q:
        await q.register("TR1", "nhs-trust-community")
        await q.schedule()
        await q.move_to(q.OPEN)
        ids = [await q.map_service("TR1") for _ in range(3)]
        owed = [s for s in await q.owed("TR1") if s["kind"] == "service"]
        assert len(owed) == len(ids)
        pool: asyncpg.Pool = q.app.state.runtime.require_pool()
        repo = q.services.questionnaire_repo
        states = [(await repo.load(s["id"])).questionnaire for s in owed]
        writer = Snapshots(pool, attempts=3)
        # A version PostgreSQL's int cannot hold: the batch's statement fails for every row.
        poison = replace(states[0], version=2**40)
        good = [
            replace(s, version=s.version + 1, answers={"caseload_total": 7}) for s in states[1:]
        ]
        for s in [poison, *good]:
            writer.remember(s)
        assert await writer.flush() == 2  # the others, row by row
        assert writer.pending == 1 and writer.poison.skipped == 0  # the poison: once more
        await writer.flush()
        await writer.flush()
        assert writer.pending == 0 and writer.poison.skipped == 1  # set aside, not retried
        writer.remember(poison)  # a reader finds it again: it stays aside at that version
        assert writer.pending == 0
        assert await writer.flush() == 0
        rows = await pool.fetch(
            "SELECT id, version FROM questionnaires WHERE id = ANY($1::text[])",
            [s.id for s in good],
        )
        assert {r["id"]: r["version"] for r in rows} == {s.id: s.version for s in good}


async def test_the_cycle_clock_sets_a_cycle_it_cannot_move_aside_and_moves_the_others(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_clock_poison") as q:
        before = (await q.schedule("2009-10"))["phase"]
        await q.schedule(
            "2010-11",
            sandbox_opens="2010-10-01T00:00:00+00:00",
            data_entry_opens="2010-11-01T00:00:00+00:00",
            summary_reports="2011-01-10T00:00:00+00:00",
            data_entry_closes="2011-02-28T23:59:59+00:00",
            publication="2011-04-06T00:00:00+00:00",
        )
        cycles = q.services.cycles
        real_move = cycles._move

        async def move(state: Any, *args: Any, **kwargs: Any) -> None:
            if state.cycle == "2009-10":
                raise ValueError("a bug met by this cycle only")
            await real_move(state, *args, **kwargs)

        cycles._move = move
        q.clock.set(q.OPEN.replace(year=2010, month=11))  # both cycles are due to move
        for tick in range(1, cycles.poison.attempts + 2):
            await cycles.tick()
            assert cycles.poison.skipped == (1 if tick >= cycles.poison.attempts else 0)
        r = await q.client.get("/cycles/2010-11", headers=q.admin)
        assert r.json()["phase"] == "data-entry"  # the other cycle moved on the first tick
        r = await q.client.get("/cycles/2009-10", headers=q.admin)
        assert r.json()["phase"] == before
