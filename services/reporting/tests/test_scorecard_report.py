"""Self-assessment scorecards: one PCT over time, and every PCT in a cycle."""

from __future__ import annotations

import pytest

from csm_kernel.errors import NotFound
from responses_history import build


async def test_one_pcts_scorecard_over_time(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("self-assessment-scorecard", organisation="5A4")
    rows = result.tables[0].rows
    assert [(r["cycle"], r["overall"]) for r in rows] == [
        ("2008-09", "amber"),
        ("2009-10", "green"),
    ]
    # The resubmission's grades, not the withdrawn submission's.
    assert rows[1]["s1"] == "green" and rows[1]["s4"] == "dark-green"
    assert rows[1]["status"] == "submitted"
    assert result.summary["latest_overall"] == "green"
    assert result.about["organisation_name"] == "Anytown PCT"
    one = await reporting_db.report(
        "self-assessment-scorecard", organisation="5A4", cycle="2008-09"
    )
    assert [(r["cycle"], r["s1"]) for r in one.tables[0].rows] == [("2008-09", "amber")]


async def test_the_national_scorecards_count_each_grade(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("self-assessment-scorecards", cycle="2009-10")
    pcts = {r["code"]: r for r in result.tables[0].rows}
    assert (pcts["5A4"]["overall"], pcts["5B1"]["overall"]) == ("green", "red")
    counts = {r["grade"]: r["pcts"] for r in result.tables[1].rows}
    assert counts == {
        "red": 1,
        "amber": 0,
        "yellow": 0,
        "pale-green": 0,
        "green": 1,
        "dark-green": 0,
        "not graded": 0,
    }
    assert result.summary["pcts"] == 2 and result.summary["submitted"] == 2
    # The national distribution per topic: how many PCTs got each grade in it.
    by_topic = {
        r["topic"]: {k: v for k, v in r.items() if k != "topic" and v}
        for r in result.tables[2].rows
    }
    assert result.tables[2].name == "grades_by_topic"
    assert by_topic == {
        "Assessing need and reviewing service provision": {"green": 1, "red": 1},
        "Shaping the structure of supply": {"green": 1, "red": 1},
        "Managing demand": {"green": 1, "red": 1},
        "Clinical decision making": {"dark-green": 1, "red": 1},
        "Managing performance": {"yellow": 1, "amber": 1},
        "Patient and public feedback": {"pale-green": 1, "yellow": 1},
    }
    london = await reporting_db.report(
        "self-assessment-scorecards", cycle="2009-10", region="london"
    )
    assert [r["code"] for r in london.tables[0].rows] == ["5A4"]
    earlier = await reporting_db.report("self-assessment-scorecards", cycle="2008-09")
    assert {r["code"]: r["status"] for r in earlier.tables[0].rows} == {
        "5A4": "submitted",
        "5B1": "not issued",
    }
    assert earlier.summary["not_graded"] == 1


async def test_unknown_organisations_and_cycles_are_not_found(reporting_db) -> None:
    build(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no organisation 9ZZ"):
        await reporting_db.report("self-assessment-scorecard", organisation="9ZZ")
    with pytest.raises(NotFound, match="no cycle 2012-13"):
        await reporting_db.report("self-assessment-scorecard", organisation="5A4", cycle="2012-13")
    with pytest.raises(NotFound, match="no cycle 2012-13"):
        await reporting_db.report("self-assessment-scorecards", cycle="2012-13")
