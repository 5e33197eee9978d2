"""The data-quality reports: the signals per organisation, the score, totals, 404s."""

from __future__ import annotations

import pytest

from csm_kernel.errors import NotFound
from progress_history import (
    CYCLE,
    at,
    directory_history,
    extend,
    issue,
    organisations,
    progress_history,
    schedule,
    submit,
)
from reporting.adapters.reports import REPORTS


async def test_quality_signals_per_organisation(reporting_db) -> None:
    progress_history(reporting_db.history)
    directory_history(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("data-quality", cycle=CYCLE, as_at=at(3, 20))
    rows = {r["code"]: r for r in result.tables[0].rows}
    aa, pct, bb = rows["00AA"], rows["5A4"], rows["00BB"]
    # 00AA: complete, but 2 answers changed after the summary reports, reopened after its
    # sign-off and signed off again after the close.
    assert (aa["completeness"], aa["changes_after_summary"]) == (100.0, 2)
    assert aa["reopened_after_sign_off"] == 1 and aa["signed_off_late"] is True
    assert aa["score"] == 100 - 5 - 10 - 2
    # 5A4: nothing submitted, one carried-forward service never checked, an extension, a
    # delegation still out at the close and one superseded before it was returned.
    assert (pct["untouched"], pct["answered_drafts"], pct["unchecked"]) == (2, 0, 1)
    assert pct["carried_forward"] == 3 and pct["extended"] is True
    assert pct["delegations_outstanding_at_close"] == 1
    assert pct["delegations_revoked_unreturned"] == 1
    assert pct["score"] == 0
    assert bb["answered_drafts"] == 1 and bb["untouched"] == 0 and bb["score"] == 0
    assert result.summary["organisations"] == 3 and result.summary["completeness"] == 40.0
    assert result.summary["unchecked"] == 1 and result.summary["signed_off_late"] == 1
    report = REPORTS.get("data-quality")
    assert report is not None and "Score (0-100)" in report.description

    # Before the close nothing is outstanding at it yet, and no deadline has been missed.
    early = await reporting_db.report("data-quality", cycle=CYCLE, as_at=at(2, 15))
    pct = {r["code"]: r for r in early.tables[0].rows}["5A4"]
    assert pct["delegations_outstanding_at_close"] == 0


async def test_late_submission_after_the_extension(reporting_db) -> None:
    h = reporting_db.history
    organisations(h)
    schedule(h)
    issue(h, "5A4", "q1", "service", "s1")
    issue(h, "5A4", "q2", "service", "s2")
    extend(h, "5A4", at(3, 10), at(2, 20))
    submit(h, "5A4", "q1", "service", at(3, 5))  # after the close, within the extension
    submit(h, "5A4", "q2", "service", at(3, 12))  # after the extension
    await reporting_db.record()
    result = await reporting_db.report(
        "data-quality-organisation", cycle=CYCLE, organisation="5A4", as_at=at(3, 20)
    )
    [row] = result.tables[0].rows
    assert row["late_submissions"] == 1 and row["completeness"] == 100.0
    issues = {r["subject_id"]: r["issue"] for r in result.tables[1].rows}
    assert issues == {"s1": None, "s2": "late"}
    # Not signed off by its deadline either: 100 - 5 - 10.
    assert row["score"] == 85


async def test_one_organisation_lists_what_lies_behind_its_signals(reporting_db) -> None:
    progress_history(reporting_db.history)
    ids = directory_history(reporting_db.history)
    await reporting_db.record()
    result = await reporting_db.report("data-quality-organisation", cycle=CYCLE, organisation="5A4")
    _, questionnaires, unchecked, delegations = result.tables
    assert {r["subject_id"]: r["issue"] for r in questionnaires.rows} == {
        "5A4": "untouched",
        "svc-2": "untouched",
    }
    assert [r["service_id"] for r in unchecked.rows] == [ids["c3"]]
    assert sorted((r["delegate_email"], r["status"]) for r in delegations.rows) == [
        ("d3@example.org", "superseded"),
        ("d4@example.org", "active"),
    ]
    with pytest.raises(NotFound, match="no organisation NOPE"):
        await reporting_db.report("data-quality-organisation", cycle=CYCLE, organisation="NOPE")
    with pytest.raises(NotFound, match="no cycle 2020-21"):
        await reporting_db.report("data-quality", cycle="2020-21")
