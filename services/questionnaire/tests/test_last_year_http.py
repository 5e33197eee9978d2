"""Bringing last year's answers into a carried-forward service's questionnaire over HTTP: the
offer, bringing them in (only into unanswered questions unless confirmed), the history saying
where they came from, and each refusal's status and reason."""

import uuid
from datetime import UTC, datetime
from typing import Any

from csm_contracts.events.directory import ServiceCarriedForward

#: 2010-11, a year after the 2009-10 timetable the suite's app starts with.
NEXT = {
    "sandbox_opens": "2010-10-01T00:00:00+00:00",
    "data_entry_opens": "2010-11-01T00:00:00+00:00",
    "summary_reports": "2011-01-10T00:00:00+00:00",
    "data_entry_closes": "2011-02-28T23:59:59+00:00",
    "publication": "2011-04-06T00:00:00+00:00",
}
NEXT_OPEN = datetime(2010, 11, 10, 9, 0, tzinfo=UTC)

LAST_YEAR = {
    "service_area": "mental_health",
    "provider_sector": "nhs",
    "setting": "community",
    "camhs": True,
    "camhs_tier": "3",
    "caseload_total": 140,
    "wte_total": 4.5,
}


async def carry_forward(q: Any, org: str, previous: str) -> str:
    """Registration carries `previous` (2009-10) into 2010-11: the new record's id."""
    service_id = uuid.uuid4()
    await q.registration_event(
        "service_mapped",
        ServiceCarriedForward(
            organisation_id=org,
            service_id=service_id,
            cycle="2010-11",
            name="Riverside CAMHS",
            description="",
            service_type="targeted",
            client_group={"age_min": 0, "age_max": 18},
            provider_id=org,
            contact={"name": "A Manager", "email": "manager@example.org"},
            previous_service_id=uuid.UUID(previous),
            previous_cycle="2009-10",
        ),
    )
    return str(service_id)


async def service_questionnaire(q: Any, org: str, cycle: str) -> dict[str, Any]:
    [item] = [s for s in await q.owed(org, cycle) if s["kind"] == "service"]
    r = await q.client.get(f"/questionnaires/{item['id']}", headers=q.lead(org))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_last_years_answers_are_brought_in_at_the_leads_choice_and_the_history_says_so(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_last_year") as q:
        lead = q.lead("TR1")
        await q.register("TR1", "nhs-trust-community")
        await q.schedule()
        await q.move_to(q.OPEN)
        previous = await q.map_service("TR1")
        old = await service_questionnaire(q, "TR1", "2009-10")
        r = await q.client.patch(
            f"/questionnaires/{old['id']}/answers",
            headers=lead,
            json={"version": old["version"], "answers": LAST_YEAR},
        )
        assert r.status_code == 200, r.text

        await q.schedule("2010-11", **NEXT)
        await q.move_to(NEXT_OPEN)
        await carry_forward(q, "TR1", previous)
        new = await service_questionnaire(q, "TR1", "2010-11")
        base = f"/questionnaires/{new['id']}/last-year"

        # One answer given this year before bringing last year's in.
        r = await q.client.patch(
            f"/questionnaires/{new['id']}/answers",
            headers=lead,
            json={"version": new["version"], "answers": {"caseload_total": 150}},
        )
        version = r.json()["version"]

        r = await q.client.get(base, headers=lead)
        assert r.status_code == 200, r.text
        found = r.json()
        assert found["available"] and found["cycle"] == "2009-10"
        assert found["from_questionnaire_id"] == old["id"]
        assert set(found["unanswered"]) == set(LAST_YEAR) - {"caseload_total"}
        assert found["replacing"] == ["caseload_total"]
        assert found["answers"]["caseload_total"] == 140 and found["answers"]["camhs"] is True

        # The version read is required, and must be the current one.
        r = await q.client.post(base, headers=lead, json={})
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "version"
        r = await q.client.post(base, headers=lead, json={"version": version - 1})
        assert r.status_code == 409 and "changed since" in r.json()["error"]

        r = await q.client.post(base, headers=lead, json={"version": version})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["brought_in_from"] == "2009-10"
        assert sorted(body["changed"]) == sorted(set(LAST_YEAR) - {"caseload_total"})
        assert body["answers"]["caseload_total"] == 150  # kept: not confirmed
        assert body["answers"]["camhs_tier"] == "3"

        history = (await q.client.get(f"/questionnaires/{new['id']}/history", headers=lead)).json()
        brought = history[-1]
        assert brought["event"] == "AnswersSaved" and brought["actor"].startswith("user:")
        assert brought["brought_in_from"] == {"cycle": "2009-10", "questionnaire_id": old["id"]}
        assert history[-2].get("brought_in_from") is None  # typed, not brought in

        # Again: only the answered question is left, and only with confirmation.
        r = await q.client.post(base, headers=lead, json={"version": body["version"]})
        assert r.status_code == 409
        assert "confirm replacing 1 answer" in r.json()["error"]
        r = await q.client.post(
            base, headers=lead, json={"version": body["version"], "replace_answered": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["changed"] == ["caseload_total"]
        assert r.json()["answers"]["caseload_total"] == 140
        r = await q.client.get(base, headers=lead)
        assert r.json()["available"] is False
        assert r.json()["reason"] == "there is nothing in 2009-10's answers to bring in"


async def test_bringing_in_is_refused_clearly(questionnaire_app) -> None:
    async with questionnaire_app("q_last_year_no") as q:
        lead = q.lead("TR1")
        await q.register("TR1", "nhs-trust-community")
        await q.schedule()
        await q.move_to(q.OPEN)
        previous = await q.map_service("TR1")
        old = await service_questionnaire(q, "TR1", "2009-10")
        await q.client.patch(
            f"/questionnaires/{old['id']}/answers",
            headers=lead,
            json={"version": old["version"], "answers": {"provider_sector": "nhs"}},
        )
        # A service registered new has no last year.
        r = await q.client.get(f"/questionnaires/{old['id']}/last-year", headers=lead)
        assert r.status_code == 200
        assert r.json() == {
            "available": False,
            "reason": "this service was not carried forward from an earlier cycle: "
            "there are no answers from last year to bring in",
        }
        r = await q.client.post(
            f"/questionnaires/{old['id']}/last-year", headers=lead, json={"version": 2}
        )
        assert r.status_code == 409 and "not carried forward" in r.json()["error"]

        await q.schedule("2010-11", **NEXT)
        await q.move_to(NEXT_OPEN)
        await carry_forward(q, "TR1", previous)
        new = await service_questionnaire(q, "TR1", "2010-11")
        base = f"/questionnaires/{new['id']}/last-year"
        # The national team reads; only the organisation answers.
        for role in ("national-admin", "auditor"):
            r = await q.client.post(base, headers=q.as_(role), json={"version": 1})
            assert r.status_code == 403, r.text
        # Another organisation's questionnaire does not exist for them.
        await q.register("TR2", "nhs-trust-community")
        r = await q.client.post(base, headers=q.lead("TR2"), json={"version": 1})
        assert r.status_code == 404
        # An unknown field is named.
        r = await q.client.post(base, headers=lead, json={"version": 1, "overwrite": True})
        assert r.status_code == 422 and "overwrite" in r.text

        # Submitted: take the submission back first.
        version = (await q.complete("TR1", new))["version"]
        r = await q.client.post(
            base, headers=lead, json={"version": version, "replace_answered": True}
        )
        assert r.status_code == 409 and "submitted" in r.json()["error"]
        r = await q.client.get(base, headers=lead)
        assert r.json()["available"] is False and "submitted" in r.json()["reason"]
