"""The CAMHS partnership and Children's Trust reports against figures worked out by hand."""

from __future__ import annotations

import pytest

from csm_kernel.errors import NotFound
from responses_history import build


async def test_camhs_by_tier_and_a_submitted_ni51(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("camhs-partnership", area="00AA", cycle="2009-10")
    s = result.summary
    assert (s["camhs_services"], s["camhs_services_previous"]) == (2, 1)
    assert (s["camhs_investment"], s["camhs_investment_previous"]) == (260000, 50000)
    assert (s["camhs_wte"], s["camhs_wte_change"]) == (7, 5)
    assert s["ni51_score"] == 12 and s["ni51_status"] == "submitted"
    assert s["ni51_from_submitted_answer"] is True
    assert s["ni51_signed_off_score"] == 12
    tables = {t.name: t for t in result.tables}
    tiers = {r["category"]: r for r in tables["camhs_by_tier"].rows}
    assert tiers["Tier 2: targeted"]["value_wte"] == 3
    assert tiers["Tier 3: specialist"]["value_investment"] == 200000
    assert tiers["Tier 3: specialist"]["previous_investment"] == 0
    workforce = {r["category"]: r["value"] for r in tables["camhs_workforce"].rows}
    # S2-10 (2 social work, 1 psychology) and S3-10 (1 medical, 2 psychology, 1 nursing).
    assert workforce["Psychology and psychological therapies"] == 3
    assert workforce["Social work"] == 2 and workforce["Total"] == 7
    ni51 = {r["question_id"]: r for r in tables["ni51"].rows}
    assert ni51["age_16_17"]["score"] == 4
    assert ni51["age_16_17"]["evidence"] == "evidence age_16_17"
    earlier = await reporting_db.report("camhs-partnership", area="00AA", cycle="2008-09")
    assert earlier.summary["ni51_score"] == 8 and earlier.summary["ni51_signed_off_score"] is None


async def test_a_withdrawn_ni51_is_shown_but_not_as_submitted(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("camhs-partnership", area="00AB", cycle="2009-10")
    s = result.summary
    assert s["ni51_score"] == 16 and s["ni51_status"] == "withdrawn"
    assert s["ni51_from_submitted_answer"] is False
    # No CAMHS services in 00AB in either cycle.
    assert (s["camhs_services"], s["camhs_services_previous"]) == (0, None)


async def test_the_childrens_trust_profile(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("childrens-trust-profile", area="00AA", cycle="2009-10")
    tables = {t.name: t for t in result.tables}
    partners = {r["code"]: r for r in tables["partners"].rows}
    assert partners["00AA"] == {
        "code": "00AA",
        "name": "Anytown Council",
        "kind": "Local authority",
        "services": 1,
        "investment": 60000,
        "wte": 3,
    }
    assert (partners["5A4"]["kind"], partners["5A4"]["investment"]) == ("PCT", 130000)
    assert (partners["RT1"]["kind"], partners["RT1"]["wte"]) == ("NHS trust", 4)
    kinds = {r["kind"]: r for r in tables["partners_by_kind"].rows}
    assert kinds["NHS trust"]["organisations"] == 1 and kinds["NHS trust"]["services"] == 1
    assert result.summary["investment"] == 390000 and result.summary["services"] == 3
    assert result.summary["arrangements_status"] == "submitted"
    answers = {r["question"]: r["answer"] for r in tables["arrangements"].rows}
    assert answers["Children's Trust Board (or equivalent) in place"] == "Yes"
    assert answers["Partners on the Board"] == ["Local authority", "Pct"]
    assert answers["Common Assessment Framework in use"] == "Whole area"
    assert answers["Joint commissioning posts"] == 2
    assert answers["Plan (or latest review) published"] == "2009-04-01"

    other = await reporting_db.report("childrens-trust-profile", area="00AB", cycle="2009-10")
    kinds = {r["kind"]: r for r in other.tables[1].rows}
    # The charity is no statutory partner; the two PCTs are.
    assert [r["code"] for r in other.tables[0].rows] == ["00AB", "5A4", "5B1"]
    assert (kinds["PCT"]["organisations"], kinds["PCT"]["investment"]) == (2, 130000)
    assert other.summary["arrangements_status"] == "not issued"
    assert other.tables[2].rows == []


@pytest.mark.parametrize("name", ["camhs-partnership", "childrens-trust-profile"])
async def test_unknown_areas_and_cycles_are_not_found(reporting_db, name: str) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no area 00ZZ"):
        await reporting_db.report(name, area="00ZZ", cycle="2009-10")
    with pytest.raises(NotFound, match="no cycle 2011-12"):
        await reporting_db.report(name, area="00AA", cycle="2011-12")
