"""The locality profile against figures worked out by hand (see responses_history)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from csm_kernel.errors import NotFound
from reporting.adapters.projector import Projector
from responses_history import build


def by_category(result: Any, table: str) -> dict[str, dict[str, Any]]:
    [t] = [t for t in result.tables if t.name == table]
    return {r["category"]: r for r in t.rows}


async def test_the_profile_of_an_area_against_the_previous_cycle(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("locality-profile", area="00AA", cycle="2009-10")
    assert result.about["area_name"] == "Anytown Council"
    assert result.about["previous_cycle"] == "2008-09"
    assert result.about["organisations"] == ["00AA", "5A4", "RT1"]
    s = result.summary
    assert (s["services_mapped"], s["services_submitted"]) == (5, 3)
    assert (s["services"], s["services_previous"], s["services_change"]) == (3, 2, 1)
    assert (s["investment"], s["investment_previous"], s["investment_change"]) == (
        390000,
        150000,
        240000,
    )
    assert (s["wte"], s["wte_previous"], s["wte_change"]) == (11, 5, 6)
    assert (s["third_and_private_investment"], s["third_and_private_investment_previous"]) == (0, 0)

    need = by_category(result, "level_of_need")
    assert need["Universal"]["value_services"] == 1
    assert need["Universal"]["value_investment"] == 130000
    assert need["Universal"]["previous_investment"] == 100000
    assert need["Universal"]["change_investment"] == 30000
    assert need["Targeted"]["value_investment"] == 60000
    assert need["Targeted"]["change_wte"] == 1
    assert need["Specialist"]["value_services"] == 1 and need["Specialist"]["change_services"] == 1

    sources = by_category(result, "investment_by_source")
    assert sources["PCT / NHS"]["value"] == 320000 and sources["PCT / NHS"]["change"] == 220000
    assert sources["Local authority children's services"]["value"] == 40000
    assert sources["Local authority children's services"]["change"] == -10000
    assert sources["DCSF grant"]["value"] == 20000
    assert sources["Pooled budget"]["value"] == 10000
    assert sources["Total"]["value"] == 390000

    tiers = by_category(result, "camhs_by_tier")
    assert tiers["Tier 2: targeted"]["value_investment"] == 60000
    assert tiers["Tier 2: targeted"]["previous_investment"] == 50000
    assert tiers["Tier 3: specialist"]["value_services"] == 1
    assert tiers["Tier 3: specialist"]["value_wte"] == 4
    assert tiers["Tier 4: highly specialist"]["value_services"] == 0

    workforce = by_category(result, "workforce")
    assert workforce["Nursing and midwifery"]["value"] == Decimal("4.5")
    assert workforce["Nursing and midwifery"]["change"] == Decimal("1.5")
    assert workforce["Psychology and psychological therapies"]["value"] == 3
    assert workforce["Medical"]["value"] == 1
    assert workforce["Total"]["value"] == 11

    sectors = by_category(result, "provider_sector")
    assert sectors["NHS"]["value_services"] == 2 and sectors["NHS"]["value_investment"] == 330000
    assert sectors["Local authority"]["value_wte"] == 3


async def test_the_services_of_an_area_are_listed_in_their_own_report(reporting_db) -> None:
    built = build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("locality-services", area="00AA", cycle="2009-10")
    [services] = result.tables
    # Listed: every service questionnaire not cancelled, of the area's providers.
    listed = {r["service_id"]: r["status"] for r in services.rows}
    assert listed == {
        "S1-10": "submitted",
        "S2-10": "submitted",
        "S3-10": "submitted",
        "S5-10": "withdrawn",
        "S6-10": "not submitted",
    }
    s2 = next(r for r in services.rows if r["service_id"] == "S2-10")
    assert s2["provider_code"] == "00AA" and s2["service"] == "Service S2-10"
    assert (s2["investment_total"], s2["wte_total"], s2["camhs_tier"]) == (60000, 3, "2")
    assert next(r for r in services.rows if r["service_id"] == "S5-10")["wte_total"] is None
    assert (result.summary["services_mapped"], result.summary["services_submitted"]) == (5, 3)
    assert result.about["area_name"] == "Anytown Council"
    before = await reporting_db.report(
        "locality-services", area="00AA", cycle="2009-10", as_at=built.before_changes
    )
    assert {r["service_id"] for r in before.tables[0].rows} == {
        "S1-10",
        "S2-10",
        "S3-10",
        "S5-10",
        "S6-10",
        "S7-10",
    }
    with pytest.raises(NotFound, match="no area 00ZZ"):
        await reporting_db.report("locality-services", area="00ZZ", cycle="2009-10")


async def test_a_provider_covering_two_areas_counts_in_both(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("locality-profile", area="00AB", cycle="2009-10")
    s = result.summary
    # S1-10 (Anytown PCT, also in 00AA) and S4-10 (the charity).
    assert (s["services"], s["investment"], s["wte"]) == (2, 170000, Decimal("5.5"))
    assert (s["services_previous"], s["investment_previous"]) == (1, 100000)
    assert s["third_and_private_services"] == 1
    assert s["third_and_private_investment"] == 40000
    assert s["third_and_private_wte"] == Decimal("1.5")
    sources = by_category(result, "investment_by_source")
    assert sources["Third sector and charitable funding"]["value"] == 30000
    assert sources["Third sector and charitable funding"]["change"] == 30000
    # The first cycle has nothing before it: previous figures are unknown, not zero.
    first = await reporting_db.report("locality-profile", area="00AB", cycle="2008-09")
    assert first.summary["services"] == 1 and first.summary["services_previous"] is None
    assert first.summary["services_change"] is None


async def test_the_profile_as_it_stood_before_the_changes(reporting_db) -> None:
    built = build(reporting_db.history)
    await reporting_db.record()
    before = await reporting_db.report(
        "locality-profile", area="00AA", cycle="2009-10", as_at=built.before_changes
    )
    s = before.summary
    # S1-10, S2-10 at £55,000 and S5-10 stood then; S3-10, S7-10 and S6-10 were only issued.
    assert (s["services_mapped"], s["services_submitted"]) == (6, 3)
    assert (s["services"], s["investment"], s["wte"]) == (3, 1184999, 15)
    assert s["investment_previous"] == 150000


async def test_a_projector_applying_one_event_at_a_time_gives_the_same_profile(
    reporting_db,
) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    at_once = await reporting_db.report("locality-profile", area="00AA", cycle="2009-10")
    one_by_one = Projector(
        reporting_db.pool, list(reporting_db.projector.projections.values()), batch=1
    )
    for projection in one_by_one.projections.values():
        await one_by_one.rebuild(projection, chunk=1)
    again = await reporting_db.report("locality-profile", area="00AA", cycle="2009-10")
    assert again.summary == at_once.summary
    assert [t.rows for t in again.tables] == [t.rows for t in at_once.tables]


async def test_unknown_areas_and_cycles_are_not_found(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no area 00ZZ"):
        await reporting_db.report("locality-profile", area="00ZZ", cycle="2009-10")
    with pytest.raises(NotFound, match="no cycle 2010-11"):
        await reporting_db.report("locality-profile", area="00AA", cycle="2010-11")
