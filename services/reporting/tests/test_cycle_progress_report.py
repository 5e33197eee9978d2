"""The cycle-progress and return-progress reports: live, as at a moment, and 404s."""

from __future__ import annotations

from datetime import timedelta

import pytest

from csm_contracts.events.accounts import ServiceGroupDefined
from csm_kernel.errors import InvalidInput, NotFound
from progress_history import CYCLE, at, progress_history


async def test_cycle_progress_per_region_and_organisation(reporting_db) -> None:
    progress_history(reporting_db.history)
    await reporting_db.record()
    as_at = at(3, 20)
    # A live report with an as-at moment is replayed; the default is now.
    result = await reporting_db.report("cycle-progress", cycle=CYCLE, as_at=as_at)
    regions, orgs = result.tables
    by_code = {r["code"]: r for r in orgs.rows}
    aa, pct, bb = by_code["00AA"], by_code["5A4"], by_code["00BB"]
    assert (aa["issued"], aa["submitted"], aa["percent_complete"]) == (2, 2, 100.0)
    assert aa["signed_off"] is True and aa["signed_off_at"] == at(3, 5)
    assert aa["reopenings"] == 1 and aa["last_reopened_at"] == at(3, 2)
    # 5A4: one cancelled questionnaire is not owed; one still with a delegate; an extension.
    assert (pct["issued"], pct["delegated"], pct["not_started"], pct["cancelled"]) == (2, 1, 1, 1)
    assert pct["percent_complete"] == 0.0 and pct["signed_off"] is False
    assert pct["deadline"] == at(3, 14) and pct["extension_reason"] == "flood"
    assert pct["days_to_deadline"] == (at(3, 14) - as_at).days == -6
    assert bb["in_progress"] == 1 and bb["deadline"] == at(2, 28, 23)
    assert bb["days_to_deadline"] == -20
    assert {r["region"]: r["issued"] for r in regions.rows} == {"london": 4, "north-east": 1}
    assert result.summary["issued"] == 5 and result.summary["submitted"] == 2
    assert result.summary["percent_complete"] == 40.0 and result.summary["signed_off"] == 1
    assert result.summary["extended"] == 1 and result.summary["days_to_close"] == -20

    london = await reporting_db.report("cycle-progress", cycle=CYCLE, region="london")
    assert sorted(r["code"] for r in london.tables[1].rows) == ["00AA", "5A4"]


async def test_cycle_progress_as_it_stood_before_the_sign_off(reporting_db) -> None:
    history = progress_history(reporting_db.history)
    await reporting_db.record()
    before = history["signed_off"].occurred_at - timedelta(seconds=1)
    then = await reporting_db.report("cycle-progress", cycle=CYCLE, as_at=before)
    aa = {r["code"]: r for r in then.tables[1].rows}["00AA"]
    assert aa["signed_off"] is False and aa["signed_off_at"] is None and aa["reopenings"] == 0
    assert aa["days_to_deadline"] == (at(2, 28, 23) - before).days
    assert "5A4" in {r["code"] for r in then.tables[1].rows}
    after = await reporting_db.report(
        "cycle-progress", cycle=CYCLE, as_at=history["signed_off"].occurred_at
    )
    aa = {r["code"]: r for r in after.tables[1].rows}["00AA"]
    assert aa["signed_off"] is True and aa["signed_off_at"] == at(2, 10)


async def test_return_progress_for_one_organisation(reporting_db) -> None:
    history = progress_history(reporting_db.history)
    for name in ("North locality", "Northern locality"):  # renamed: the latest name is shown
        reporting_db.history.add(
            ServiceGroupDefined(
                organisation_id="5A4", group_id="g1", name=name, kind="locality", defined_by="u"
            ),
            at=at(10, 4),
        )
    await reporting_db.record()
    result = await reporting_db.report("return-progress", cycle=CYCLE, organisation="5A4")
    groups, questionnaires = result.tables
    # Groups by their names, never their ids; questionnaires outside a group say so.
    assert {g["group"] for g in groups.rows} == {"Northern locality", "Not in a group"}
    assert "group_id" not in {c.key for c in groups.columns}
    assert {"group_id", "subject_id"}.isdisjoint(c.key for c in questionnaires.columns)
    by_id = {r["questionnaire_id"]: r for r in questionnaires.rows}
    assert by_id["qp-svc2"]["status"] == "delegated"
    assert by_id["qp-svc2"]["delegate_email"] == "d4@example.org"
    assert by_id["qp-svc1"]["status"] == "cancelled"
    g1 = {g["group_id"]: g for g in groups.rows}["g1"]
    assert (g1["questionnaires"], g1["delegated"], g1["cancelled"]) == (2, 1, 1)
    assert result.summary["issued"] == 2 and result.summary["extension_until"] == at(3, 14)
    # As at the reopening of 00AA: no longer signed off (replaying only its own events).
    reopened = history["reopened"].occurred_at
    then = await reporting_db.report(
        "return-progress", cycle=CYCLE, organisation="00AA", as_at=reopened
    )
    assert then.summary["signed_off"] is False and then.summary["reopenings"] == 1
    assert then.about["organisation_name"] == "Anytown Council"


async def test_unknown_cycle_organisation_and_region(reporting_db) -> None:
    progress_history(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no cycle 2001-02"):
        await reporting_db.report("cycle-progress", cycle="2001-02")
    with pytest.raises(NotFound, match="no cycle 2001-02"):
        await reporting_db.report("return-progress", cycle="2001-02", organisation="5A4")
    with pytest.raises(NotFound, match="no organisation 9ZZ"):
        await reporting_db.report("return-progress", cycle=CYCLE, organisation="9ZZ")
    with pytest.raises(InvalidInput, match="region"):
        await reporting_db.report("cycle-progress", cycle=CYCLE, region="mars")


async def test_cycle_progress_shares_per_region_now_and_week_by_week(reporting_db) -> None:
    progress_history(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("cycle-progress", cycle=CYCLE, as_at=at(3, 20))
    regions, _ = result.tables
    london = {r["region"]: r for r in regions.rows}["london"]
    # 00AA submitted everything it owes and signed off; 5A4 did neither.
    assert london["organisations"] == 2 and london["organisations_submitted"] == 1
    assert london["percent_organisations_submitted"] == 50.0
    assert london["percent_signed_off"] == 50.0
    weekly = await reporting_db.report("cycle-progress-over-time", cycle=CYCLE, as_at=at(3, 20))
    [over_time] = weekly.tables
    assert over_time.name == "over_time"
    week = {(r["date"], r["region"]): r for r in over_time.rows}
    # Weekly from the first questionnaire issued (2 November) to the last event (5 March).
    dates = sorted({r["date"] for r in over_time.rows})
    assert dates[0] == "2009-11-02" and dates[-1] == "2010-03-05"
    assert dates[1] == "2009-11-09" and len(dates) == 19
    shares = [
        (week[(d, "london")]["percent_submitted"], week[(d, "london")]["percent_signed_off"])
        for d in ("2009-11-09", "2009-11-16", "2009-11-23", "2010-01-25", "2010-02-15")
    ]
    # 00AA: both submitted on 16 November, one withdrawn the next day and resubmitted on
    # 21 January; signed off on 10 February.
    assert shares == [(0.0, 0.0), (50.0, 0.0), (0.0, 0.0), (50.0, 0.0), (50.0, 50.0)]
    assert week[("2010-03-05", "north-east")] == {
        "date": "2010-03-05",
        "region": "north-east",
        "organisations": 1,
        "submitted": 0,
        "percent_submitted": 0.0,
        "signed_off": 0,
        "percent_signed_off": 0.0,
    }
    # As at before the sign-off, the replay stops there too.
    assert weekly.summary == {
        "organisations": 3,
        "submitted_everything": 1,
        "signed_off": 1,
        "weeks": 19,
    }
    then = await reporting_db.report("cycle-progress-over-time", cycle=CYCLE, as_at=at(2, 9))
    assert max(r["date"] for r in then.tables[0].rows) == "2010-02-09"
    assert all(r["signed_off"] == 0 for r in then.tables[0].rows)
    # Live, long after the cycle, it ends at the last event (the late sign-off, 5 March).
    live = await reporting_db.report("cycle-progress-over-time", cycle=CYCLE)
    assert live.tables[0].rows[-1]["date"] == "2010-03-05"
    assert sum(r["signed_off"] for r in live.tables[0].rows[-2:]) == 1
