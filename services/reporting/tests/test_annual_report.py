"""The annual report: national figures per cycle, year on year."""

from __future__ import annotations

from decimal import Decimal

import pytest

from csm_kernel.errors import NotFound
from responses_history import build


async def test_national_figures_year_on_year(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("annual-report")
    tables = {t.name: t for t in result.tables}
    first, second = tables["overview"].rows
    # Each service once, however many areas its provider covers.
    assert (first["cycle"], first["services"], first["investment"], first["wte"]) == (
        "2008-09",
        2,
        150000,
        5,
    )
    assert first["services_change"] is None and first["organisations_submitted_change"] is None
    assert (second["services"], second["investment"], second["wte"]) == (4, 430000, Decimal("12.5"))
    assert (second["services_change"], second["investment_change"]) == (2, 280000)
    assert second["wte_change"] == Decimal("7.5")
    # 2008-09: 5A4 and 00AA submitted. 2009-10: 00AA, 5A4, 5B1, RT1, TS1 (00AB's only
    # submission was withdrawn); only 00AA stands signed off (5A4's return was reopened).
    assert (first["organisations_issued"], first["organisations_submitted"]) == (2, 2)
    assert (second["organisations_issued"], second["organisations_submitted"]) == (6, 5)
    assert second["organisations_submitted_change"] == 3
    assert (second["organisations_signed_off"], second["organisations_signed_off_change"]) == (1, 1)

    sources = {(r["cycle"], r["category"]): r for r in tables["investment_by_source"].rows}
    assert sources[("2009-10", "PCT / NHS")]["value"] == 320000
    assert sources[("2009-10", "PCT / NHS")]["change"] == 220000
    assert sources[("2009-10", "Local authority children's services")]["value"] == 50000
    assert sources[("2008-09", "PCT / NHS")]["change"] is None
    need = {(r["cycle"], r["category"]): r for r in tables["level_of_need"].rows}
    assert need[("2009-10", "Targeted")]["value_services"] == 2
    assert need[("2009-10", "Targeted")]["value_investment"] == 100000
    tiers = {(r["cycle"], r["category"]): r for r in tables["camhs_by_tier"].rows}
    assert tiers[("2009-10", "Tier 3: specialist")]["change_services"] == 1
    workforce = {(r["cycle"], r["category"]): r["value"] for r in tables["workforce"].rows}
    assert workforce[("2009-10", "Youth, family support and early years workers")] == Decimal("1.5")
    assert result.summary["latest_cycle"] == "2009-10"


async def test_one_cycle_and_an_unknown_cycle(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("annual-report", cycle="2009-10")
    [row] = result.tables[0].rows
    assert (row["cycle"], row["previous_cycle"], row["services_change"]) == (
        "2009-10",
        "2008-09",
        2,
    )
    with pytest.raises(NotFound, match="no cycle 2003-04"):
        await reporting_db.report("annual-report", cycle="2003-04")
