"""The responses projection: instances, current submissions, measures, returns; and the same
tables whether the journal is applied in ranges of 7 (live), one event at a time or at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reporting.adapters.projections.responses import PROJECTION
from responses_history import build


async def _snapshot(pool: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in PROJECTION.tables:
        rows = await pool.fetch(f"SELECT * FROM {PROJECTION.schema}.{table} ORDER BY 1, 2, 3")
        out[table] = [dict(r) for r in rows]
    return out


async def test_each_instance_keeps_its_latest_submission(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    rows = {
        r["questionnaire_id"]: r
        for r in await reporting_db.pool.fetch("SELECT * FROM rm_responses.responses")
    }
    resubmitted = rows["q-service-2009-10-S2-10"]
    assert resubmitted["status"] == "submitted" and resubmitted["current"]
    assert resubmitted["submissions"] == 2
    assert resubmitted["definition_id"] == "service" and resubmitted["definition_version"] == 1
    assert resubmitted["subject_kind"] == "service" and resubmitted["subject_id"] == "S2-10"
    assert resubmitted["organisation_id"] == "00AA" and resubmitted["cycle"] == "2009-10"
    # A service's answers live on as its measures only; the answers reports show are kept.
    assert resubmitted["answers"] is None and resubmitted["submitted_at"] is not None
    assert '"caf_in_use": "whole_area"' in rows["q-trust-2009-10-00AA"]["answers"]
    assert '"score": 4' in rows["q-camhs-2009-10-00AA"]["answers"]
    assert '"score": 4' in rows["q-camhs-2009-10-00AB"]["answers"]  # withdrawn, still shown
    assert rows["q-sa-2009-10-5A4"]["answers"] is None
    withdrawn = rows["q-service-2009-10-S5-10"]
    assert withdrawn["status"] == "withdrawn" and not withdrawn["current"]
    assert withdrawn["status_reason"] == "to correct it" and withdrawn["submitted_at"]
    assert rows["q-service-2009-10-S7-10"]["status"] == "cancelled"
    assert rows["q-service-2009-10-S6-10"]["status"] == "issued"
    assert rows["q-service-2009-10-S6-10"]["title"] == "Service: Service S6-10"
    card = rows["q-sa-2009-10-5A4"]
    assert card["overall_grade"] == "green" and card["current"]
    assert '"s4": "dark-green"' in card["scorecard_topics"]

    measures = {
        r["service_id"]: r
        for r in await reporting_db.pool.fetch(
            "SELECT * FROM rm_responses.responses_service_measures WHERE cycle = '2009-10'"
        )
    }
    # Only the services whose submission stands: not the withdrawn S5, the cancelled S7 or
    # the never-submitted S6.
    assert sorted(measures) == ["S1-10", "S2-10", "S3-10", "S4-10"]
    s2 = measures["S2-10"]
    assert s2["investment_total"] == 60000 and s2["investment_la_childrens"] == 40000
    assert s2["wte_psychology"] == 1 and s2["wte_total"] == 3
    assert s2["camhs"] and s2["camhs_tier"] == "2" and s2["level_of_need"] == "targeted"
    assert s2["service_name"] == "Service S2-10" and s2["investment_nhs"] is None
    assert measures["S1-10"]["wte_total"] == Decimal("4.0") and not measures["S1-10"]["camhs"]
    assert measures["S4-10"]["provider_sector"] == "third_sector"
    # Money as a JSON number is read too (older submissions, other clients).
    assert measures["S4-10"]["investment_third_sector"] == 30000

    totals = {
        (r["organisation_id"], r["cycle"], r["camhs_only"]): r
        for r in await reporting_db.pool.fetch(
            "SELECT * FROM rm_responses.responses_provider_totals"
        )
    }
    # Providers with current service submissions only: RT1's S3-10 stands, S7-10 was cancelled;
    # TS1 has S4-10; 00AA has S2-10 (S5-10 withdrawn); 5A4 has S1-10.
    assert sorted(totals) == [
        ("00AA", "2008-09", False),
        ("00AA", "2008-09", True),
        ("00AA", "2009-10", False),
        ("00AA", "2009-10", True),
        ("5A4", "2008-09", False),
        ("5A4", "2009-10", False),
        ("RT1", "2009-10", False),
        ("RT1", "2009-10", True),
        ("TS1", "2009-10", False),
    ]
    aa = totals[("00AA", "2009-10", False)]
    assert (aa["services"], aa["investment"], aa["wte"]) == (1, 60000, 3)
    assert aa["investment_la_childrens"] == 40000 and aa["investment_dcsf_grant"] == 20000
    assert aa["investment_la_other"] == 0 and aa["wte_psychology"] == 1
    assert aa["need_targeted_services"] == 1 and aa["need_specialist_services"] == 0
    assert aa["tier_2_investment"] == 60000 and aa["sector_local_authority_wte"] == 3
    rt1 = totals[("RT1", "2009-10", True)]
    assert (rt1["services"], rt1["investment"], rt1["wte"]) == (1, 200000, 4)
    assert rt1["tier_3_services"] == 1 and rt1["tier_4_services"] == 0
    assert totals[("5A4", "2009-10", False)]["wte_nursing"] == Decimal("3.5")

    national = {
        (r["cycle"], r["camhs_only"]): r
        for r in await reporting_db.pool.fetch("SELECT * FROM rm_responses.responses_cycle_totals")
    }
    assert sorted(national) == [
        ("2008-09", False),
        ("2008-09", True),
        ("2009-10", False),
        ("2009-10", True),
    ]
    now = national[("2009-10", False)]
    assert (now["services"], now["investment"], now["wte"]) == (4, 430000, Decimal("12.5"))
    assert now["investment_nhs"] == 320000 and now["sector_third_sector_services"] == 1
    camhs = national[("2009-10", True)]
    assert (camhs["services"], camhs["investment"], camhs["wte"]) == (2, 260000, 7)
    before = national[("2008-09", False)]
    assert (before["services"], before["investment"], before["wte"]) == (2, 150000, 5)
    # The national rows are the sums of the providers' rows, column by column.
    for (cycle, camhs_only), row in national.items():
        rows = [t for (_, c, k), t in totals.items() if (c, k) == (cycle, camhs_only)]
        for column, value in row.items():
            if column not in ("cycle", "camhs_only"):
                assert value == sum(t[column] for t in rows), (cycle, camhs_only, column)

    counts = {
        (r["organisation_id"], r["cycle"]): (r["owed"], r["submitted"], r["services"])
        for r in await reporting_db.pool.fetch(
            "SELECT * FROM rm_responses.responses_organisation_cycles"
        )
    }
    assert counts == {
        ("00AA", "2008-09"): (2, 2, 1),
        ("5A4", "2008-09"): (2, 2, 1),
        # S2 and S5 (withdrawn), CAMHS, trust; RT1: S3 and S7 (cancelled); 00AB: its CAMHS
        # (withdrawn); 5A4: S1, S6 (never submitted), the self-assessment.
        ("00AA", "2009-10"): (4, 3, 2),
        ("RT1", "2009-10"): (1, 1, 1),
        ("TS1", "2009-10"): (1, 1, 1),
        ("00AB", "2009-10"): (1, 0, 0),
        ("5A4", "2009-10"): (3, 2, 2),
        ("5B1", "2009-10"): (1, 1, 0),
    }

    returns = {
        r["organisation_id"]: r
        for r in await reporting_db.pool.fetch("SELECT * FROM rm_responses.responses_returns")
    }
    assert returns["00AA"]["signed_off"] and '"score": 12' in returns["00AA"]["ni51"]
    assert not returns["5A4"]["signed_off"]
    assert returns["5A4"]["signed_off_at"] is not None and returns["5A4"]["reopened_at"]
    cycles = await reporting_db.pool.fetch("SELECT * FROM rm_responses.responses_cycles")
    assert {(c["cycle"], c["previous_cycle"]) for c in cycles} == {
        ("2008-09", None),
        ("2009-10", "2008-09"),
    }


async def test_ranges_split_any_way_give_the_same_tables(reporting_db) -> None:
    build(reporting_db.history)
    events = reporting_db.history.envelopes[:]
    await reporting_db.record()  # live, in ranges of 7
    live = await _snapshot(reporting_db.pool)
    assert await reporting_db.record(events) == 0  # redelivered: nothing moves
    assert await _snapshot(reporting_db.pool) == live
    await reporting_db.projector.rebuild(PROJECTION, chunk=1)
    assert await _snapshot(reporting_db.pool) == live
    await reporting_db.projector.rebuild(PROJECTION)  # the whole journal as one range
    assert await _snapshot(reporting_db.pool) == live
