"""An event a projection's tables refuse (here a service questionnaire submitted without its
subject, which the responses projection needs) no longer holds every projection for ever: the
others catch up past it at once, and the one that refuses it waits there, tries again on later
passes and then sets that one position aside, logged and counted, and goes on after it."""

from __future__ import annotations

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.questionnaire import ResponseSubmitted


async def _positions(reporting_db) -> dict[str, int]:
    rows = await reporting_db.pool.fetch("SELECT projection, position FROM projection_checkpoints")
    return {r["projection"]: r["position"] for r in rows}


async def test_a_refused_event_is_set_aside_after_a_few_passes(reporting_db) -> None:
    h, projector = reporting_db.history, reporting_db.projector
    h.add(
        OrganisationRegistered(
            organisation_id="5A4", code="5A4", name="Anytown PCT", kind="pct", region="london"
        )
    )
    h.add(
        ResponseSubmitted(
            organisation_id="5A4",
            cycle="2009-10",
            questionnaire_id="q1",
            definition="service@1",
            submitted_by="user:lead",
            answers={"caseload_total": 3},
        )
    )  # no subject: refused
    h.add(
        OrganisationRegistered(
            organisation_id="5B1", code="5B1", name="Otherborough PCT", kind="pct", region="london"
        )
    )
    assert await reporting_db.record() == 3  # no exception: the projector carries on
    positions = await _positions(reporting_db)
    assert positions["responses"] == 1  # waiting before the refused event
    assert all(p == 3 for name, p in positions.items() if name != "responses"), positions
    names = await reporting_db.pool.fetch(
        "SELECT name FROM rm_organisations.organisations ORDER BY code"
    )
    assert [r["name"] for r in names] == ["Anytown PCT", "Otherborough PCT"]
    for _ in range(projector.poison.attempts - 2):
        await projector.catch_up_all()
        assert (await _positions(reporting_db))["responses"] == 1
    assert projector.poison.skipped == 0
    await projector.catch_up_all()  # the last try: set aside, and on past it
    assert projector.poison.skipped == 1
    assert (await _positions(reporting_db))["responses"] == 3
    assert await projector.catch_up_all() == 0
