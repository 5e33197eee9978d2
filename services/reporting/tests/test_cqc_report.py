"""The NI 51 report the regulator reads: scores, sign-off, on time, reopened, 404."""

from __future__ import annotations

import pytest

from csm_kernel.errors import NotFound
from progress_history import (
    CYCLE,
    TIMETABLE,
    at,
    ni51,
    organisations,
    progress_history,
    reopen,
    schedule,
    sign_off,
)


async def test_ni51_per_area_as_signed_off(reporting_db) -> None:
    history = progress_history(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("cqc-performance", cycle=CYCLE)
    rows = {r["area"]: r for r in result.tables[0].rows}
    assert set(rows) == {"00AA", "00BB"}
    aa = rows["00AA"]
    assert (
        aa["learning_disabilities"],
        aa["urgent_24_hour_cover"],
        aa["age_16_17"],
        aa["early_intervention"],
        aa["score"],
    ) == (4, 4, 2, 1, 11)
    assert aa["status"] == "signed off" and aa["signed_off_at"] == at(3, 5)
    assert aa["signed_off_by_organisation"] == "00AA" and aa["signed_off_by"] == "lead"
    assert aa["area_name"] == "Anytown Council" and aa["region"] == "london"
    assert set(aa) == {c.key for c in result.tables[0].columns}  # the close is not a column
    # Re-signed after the close: late, though the first sign-off was on time.
    assert aa["on_time"] is False and aa["first_on_time"] is True
    bb = rows["00BB"]
    assert bb["status"] == "not signed off" and bb["score"] is None and bb["on_time"] is None
    assert result.summary == {
        "areas": 2,
        "signed_off": 1,
        "on_time": 0,
        "late": 1,
        "reopened": 0,
        "not_signed_off": 1,
        "data_entry_closes": at(2, 28, 23),
    }

    # Between the reopening and the new sign-off the regulator has nothing signed off.
    then = await reporting_db.report(
        "cqc-performance", cycle=CYCLE, as_at=history["reopened"].occurred_at
    )
    aa = {r["area"]: r for r in then.tables[0].rows}["00AA"]
    assert aa["status"] == "reopened: not signed off" and aa["score"] is None
    assert aa["reopened_at"] == at(3, 2) and then.summary["reopened"] == 1
    # Before it: signed off on time, with the first scores.
    first = await reporting_db.report("cqc-performance", cycle=CYCLE, as_at=at(2, 11))
    aa = {r["area"]: r for r in first.tables[0].rows}["00AA"]
    assert aa["score"] == 10 and aa["on_time"] is True

    north = await reporting_db.report("cqc-performance", cycle=CYCLE, region="north-east")
    assert [r["area"] for r in north.tables[0].rows] == ["00BB"]


async def test_a_re_sign_off_replaces_the_areas(reporting_db) -> None:
    h = reporting_db.history
    organisations(h)
    schedule(h)
    sign_off(h, "00AA", at(2, 1), [], [ni51("00AA", (1, 1, 1, 1)), ni51("00ZZ", (2, 2, 2, 2))])
    sign_off(h, "00AA", at(2, 2), [], [ni51("00AA", (3, 3, 3, 3))], supersedes=at(2, 1))
    await reporting_db.record()
    result = await reporting_db.report("cqc-performance", cycle=CYCLE)
    rows = {r["area"]: r for r in result.tables[0].rows}
    assert rows["00AA"]["score"] == 12 and rows["00AA"]["first_signed_off_at"] == at(2, 1)
    assert "00ZZ" not in rows


async def test_areas_no_la_names_and_several_signatories(reporting_db) -> None:
    """Every LA area once, plus an area only a non-LA signed off (its region is the signing
    organisation's); an area two organisations signed off has a line for each, in order of
    organisation; regions in order, an area without one last."""
    h = reporting_db.history
    organisations(h)
    schedule(h)
    sign_off(h, "00AA", at(2, 1), [], [ni51("00AA", (1, 2, 3, 4))])
    sign_off(h, "5A4", at(3, 2), [], [ni51("00AA", (2, 2, 2, 2)), ni51("00ZZ", (4, 4, 4, 4))])
    reopen(h, "5A4", at(3, 3), [], was=at(3, 2))
    await reporting_db.record()
    result = await reporting_db.report("cqc-performance", cycle=CYCLE)
    lines = [
        (r["region"], r["area"], r["signed_off_by_organisation"], r["status"], r["score"])
        for r in result.tables[0].rows
    ]
    assert lines == [
        ("london", "00AA", "00AA", "signed off", 10),
        ("london", "00AA", "5A4", "reopened: not signed off", None),
        ("london", "00ZZ", "5A4", "reopened: not signed off", None),
        ("north-east", "00BB", None, "not signed off", None),
    ]
    zz = result.tables[0].rows[2]
    assert zz["area_name"] is None and zz["organisation_name"] == "Anytown PCT"
    assert zz["first_signed_off_at"] == at(3, 2) and zz["first_on_time"] is False
    assert zz["reopened_at"] == at(3, 3) and zz["on_time"] is None
    assert result.summary["areas"] == 3 and result.summary["reopened"] == 2
    assert result.summary["signed_off"] == 1 and result.summary["on_time"] == 1
    london = await reporting_db.report("cqc-performance", cycle=CYCLE, region="london")
    assert [r["area"] for r in london.tables[0].rows] == ["00AA", "00AA", "00ZZ"]


async def test_unknown_cycle(reporting_db) -> None:
    progress_history(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no cycle 1999-00"):
        await reporting_db.report("cqc-performance", cycle="1999-00")


async def test_a_cycle_with_no_areas_yet_is_an_empty_report(reporting_db) -> None:
    # Scheduled before any organisation registered: no rows to carry the close, yet the
    # cycle is known and its close is still said.
    schedule(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("cqc-performance", cycle=CYCLE)
    assert result.tables[0].rows == []
    assert result.summary["areas"] == 0
    assert result.summary["data_entry_closes"] == TIMETABLE.data_entry_closes
