"""Cycles over HTTP: scheduling, the timetable, phases by the clock and by national action,
and what opening data entry issues."""

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg
import pytest

from csm_contracts.events.registration import OrganisationRegistered


async def event_types(dsn: str, stream: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY stream_version", stream
        )
    finally:
        await conn.close()
    return [r["type"].split(".", 1)[1] for r in rows]


async def test_the_clock_moves_a_cycle_through_every_phase_each_change_an_event(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_cycle_phases") as q:
        cycle = await q.schedule()
        assert cycle["phase"] == "scheduled" and cycle["version"] == 1
        for at, phase in [
            (datetime(2009, 10, 5, tzinfo=UTC), "sandbox"),
            (q.OPEN, "data-entry"),
            (q.SUMMARY, "summary-reports"),
            (q.AFTER_CLOSE, "closed"),
            (datetime(2010, 4, 7, tzinfo=UTC), "published"),
        ]:
            await q.move_to(at)
            r = await q.client.get("/cycles/2009-10", headers=q.lead("X1"))
            assert r.json()["phase"] == phase
        assert await event_types(q.dsn, "cycle-2009-10") == [
            "CycleScheduled",
            "CyclePhaseChanged",
            "CyclePhaseChanged",
            "CycleOpened",
            "CyclePhaseChanged",
            "CyclePhaseChanged",
            "CyclePhaseChanged",
        ]


async def test_a_tick_that_skips_phases_records_each_and_opens_the_cycle(questionnaire_app) -> None:
    async with questionnaire_app("q_cycle_skip") as q:
        await q.register("LA1", "local-authority")
        await q.schedule()
        await q.move_to(q.SUMMARY)  # straight from scheduled to summary reports
        types = await event_types(q.dsn, "cycle-2009-10")
        assert types.count("CyclePhaseChanged") == 3 and types.count("CycleOpened") == 1
        assert len(await q.owed("LA1")) == 2
        await q.move_to(q.SUMMARY)  # again: nothing new
        assert await event_types(q.dsn, "cycle-2009-10") == types


async def test_opening_issues_what_each_kind_of_organisation_owes_once(questionnaire_app) -> None:
    async with questionnaire_app("q_cycle_issue") as q:
        for code, kind in [
            ("LA1", "local-authority"),
            ("PCT1", "pct"),
            ("PC2", "pct-commissioning"),
            ("PP2", "pct-provider"),
            ("TR1", "nhs-trust-acute"),
        ]:
            await q.register(code, kind)
        await q.schedule()
        await q.move_to(q.OPEN)
        kinds = {
            code: sorted(o["kind"] for o in await q.owed(code))
            for code in ("LA1", "PCT1", "PC2", "PP2", "TR1")
        }
        assert kinds == {
            "LA1": ["camhs-partnership", "childrens-trust"],
            "PCT1": ["self-assessment"],
            "PC2": ["self-assessment"],
            "PP2": [],
            "TR1": [],
        }
        # Services mapped later are issued as they arrive; an organisation registering late
        # owes its questionnaires at once.
        await q.map_service("TR1")
        await q.register("LA2", "local-authority")
        assert [o["kind"] for o in await q.owed("TR1")] == ["service"]
        assert len(await q.owed("LA2")) == 2
        # Issuing again (the clock loop, a redelivered event) issues nothing twice.
        assert await q.services.cycles.issue_owed("2009-10") == 0
        conn = await asyncpg.connect(q.dsn)
        try:
            issued = await conn.fetchval(
                "SELECT count(*) FROM events WHERE type = 'questionnaire.QuestionnaireIssued'"
            )
        finally:
            await conn.close()
        assert issued == 7


async def test_national_action_moves_a_cycle_forward_only(questionnaire_app) -> None:
    async with questionnaire_app("q_cycle_advance") as q:
        await q.register("PCT1", "pct")
        await q.schedule()
        r = await q.client.post(
            "/cycles/2009-10/phase",
            headers=q.admin,
            json={"phase": "data-entry", "reason": "ready early"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["phase"] == "data-entry"
        assert len(await q.owed("PCT1")) == 1
        r = await q.client.post(
            "/cycles/2009-10/phase", headers=q.admin, json={"phase": "sandbox", "reason": "oops"}
        )
        assert r.status_code == 422
        assert r.json()["details"][0]["field"] == "phase"
        assert "only move forward" in r.json()["details"][0]["reason"]


async def test_the_timetable_changes_with_a_reason_and_never_moves_a_phase_back(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_cycle_timetable") as q:
        cycle = await q.schedule()
        await q.move_to(q.OPEN)
        version = (await q.client.get("/cycles/2009-10", headers=q.admin)).json()["version"]
        later_close = {**cycle["timetable"], "data_entry_closes": "2010-03-15T23:59:59+00:00"}
        r = await q.client.put(
            "/cycles/2009-10/timetable",
            headers=q.admin,
            json={"version": version, "timetable": later_close, "reason": "more time for everyone"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["timetable"]["data_entry_closes"].startswith("2010-03-15")
        # The same version again is stale.
        r = await q.client.put(
            "/cycles/2009-10/timetable",
            headers=q.admin,
            json={"version": version, "timetable": later_close, "reason": "again"},
        )
        assert r.status_code == 409
        # Opening data entry next month would take the cycle back a phase.
        back = {**later_close, "data_entry_opens": "2009-12-01T00:00:00+00:00"}
        r = await q.client.put(
            "/cycles/2009-10/timetable",
            headers=q.admin,
            json={"version": version + 1, "timetable": back, "reason": "later"},
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "timetable"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cycle": "2009"}, "cycle"),
        ({"cycle": "2009-11"}, "cycle"),
        ({"cycle": "2009-10", "previous_cycle": "2010-11"}, "previous_cycle"),
        (
            {"cycle": "2009-10", "timetable": {"publication": "2009-01-01T00:00:00+00:00"}},
            "timetable",
        ),
        (
            {"cycle": "2009-10", "timetable": {"sandbox_opens": "2009-10-01T00:00:00"}},
            "timetable.sandbox_opens",
        ),
    ],
)
async def test_a_bad_cycle_is_refused_naming_the_field(questionnaire_app, body, field) -> None:
    async with questionnaire_app("q_cycle_bad") as q:
        sent = {"timetable": {}, **body}
        sent["timetable"] = {**q.TIMETABLE, **sent["timetable"]}
        r = await q.client.post("/cycles", headers=q.admin, json=sent)
        assert r.status_code == 422, r.text
        assert field in [d["field"] for d in r.json()["details"]], r.json()
        r = await q.client.get("/cycles", headers=q.admin)
        assert r.json() == []


async def test_scheduling_is_for_the_national_team_and_happens_once(questionnaire_app) -> None:
    async with questionnaire_app("q_cycle_roles") as q:
        r = await q.client.post(
            "/cycles", headers=q.lead("PCT1"), json={"cycle": "2009-10", "timetable": {}}
        )
        assert r.status_code == 403
        r = await q.client.post("/cycles", json={"cycle": "2009-10", "timetable": {}})
        assert r.status_code == 401
        await q.schedule()
        r = await q.client.post(
            "/cycles",
            headers=q.admin,
            json={
                "cycle": "2009-10",
                "timetable": (await q.client.get("/cycles/2009-10", headers=q.admin)).json()[
                    "timetable"
                ],
            },
        )
        assert r.status_code == 409
        r = await q.client.get("/cycles/2011-12", headers=q.admin)
        assert r.status_code == 404 and "2011-12" in r.json()["error"]


async def test_an_organisation_registered_while_the_cycle_opens_is_issued_its_questionnaires(
    questionnaire_app,
) -> None:
    # The consumer records the organisation and finds no open cycle; the clock opens the cycle
    # and issues to the organisations it can see. Before the lock, a consumer transaction still
    # open at that moment left the organisation owed nothing, for good (CI met it once).
    async with questionnaire_app("q_cycle_issue_race") as q:
        await q.schedule()
        follower = q.services.follower
        envelope = SimpleNamespace(
            correlation_id=str(uuid.uuid4()), event_id=uuid.uuid4(), occurred_at=q.clock.now()
        )
        event = OrganisationRegistered(
            organisation_id="LA9",
            code="LA9",
            name="Late Council",
            kind="local-authority",
            region="london",
            partnership_areas=["LA9"],
        )
        pool = q.app.state.runtime.require_pool()
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            await follower.organisation_registered(conn, envelope, event)
            q.clock.set(q.OPEN)
            opening = asyncio.create_task(q.services.cycles.tick())
            await asyncio.sleep(1)
            # The cycle has moved, but issuing waits for the registration to commit.
            assert not opening.done()
            await transaction.commit()
        await asyncio.wait_for(opening, 30)
        assert sorted(o["kind"] for o in await q.owed("LA9")) == [
            "camhs-partnership",
            "childrens-trust",
        ]
