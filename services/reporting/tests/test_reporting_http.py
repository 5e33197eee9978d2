"""Reports over HTTP: JSON, CSV and XLSX saying what they cover, as-at checks, access, lag
status and metrics, and a rebuild that swaps in without changing a row."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import openpyxl
from prometheus_client.parser import text_string_to_metric_families

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import CyclePhaseChanged, CycleScheduled, Phase
from reporting.adapters.projections import PROJECTIONS
from reporting_history import TIMETABLE


def organisations(app, n: int) -> None:
    app.history.add(
        CycleScheduled(cycle="2009-10", timetable=TIMETABLE), at=datetime(2009, 9, 1, tzinfo=UTC)
    )
    for i in range(n):
        code = f"5A{i}"
        app.history.add(
            OrganisationRegistered(
                organisation_id=code, code=code, name=f"Town {i} PCT", kind="pct", region="london"
            )
        )


async def test_a_report_as_json_csv_and_xlsx_says_what_it_covers(reporting_app) -> None:
    organisations(reporting_app, 3)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/organisations", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["code"] for row in body["tables"][0]["rows"]] == ["5A0", "5A1", "5A2"]
    assert body["summary"] == {"organisations": 3}
    # The time of the newest event the report's projections hold.
    assert body["about"]["data_as_at"].startswith("2009-09-01T00:03")
    r = await c.get("/reports/organisations", headers=admin, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="organisations-' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        files = {n: archive.read(n).decode("utf-8-sig") for n in archive.namelist()}
    assert sorted(files) == ["README.txt", "organisations.csv", "summary.csv"]
    assert files["README.txt"].startswith("Organisations\r\n")
    assert "Generated at: " in files["README.txt"]
    # Each CSV is one table: a header, then one row per organisation, nothing else.
    lines = list(csv.reader(io.StringIO(files["organisations.csv"])))
    assert lines[0] == [
        "Code",
        "Name",
        "Kind",
        "Region",
        "Partnership areas",
        "Mapping lead",
        "Registered",
    ]
    assert [line[:2] for line in lines[1:]] == [
        ["5A0", "Town 0 PCT"],
        ["5A1", "Town 1 PCT"],
        ["5A2", "Town 2 PCT"],
    ]
    # Times in ISO 8601.
    assert datetime.fromisoformat(lines[1][6]).tzinfo is not None
    assert list(csv.reader(io.StringIO(files["summary.csv"]))) == [
        ["Figure", "Value"],
        ["Organisations", "3"],
    ]
    r = await c.get(
        "/reports/organisations",
        headers=admin,
        params={"format": "csv", "table": "organisations"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].endswith("-organisations.csv")
    assert list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")))) == lines
    r = await c.get("/reports/organisations", headers=admin, params={"format": "xlsx"})
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["About", "Organisations"]
    about = {row[0]: row[1] for row in book["About"].iter_rows(values_only=True) if row[0]}
    assert about["Report"] == "Organisations" and "Data as at" in about
    assert [row[0] for row in book["Organisations"].iter_rows(values_only=True)] == [
        "Code",
        "5A0",
        "5A1",
        "5A2",
    ]


async def test_bad_requests_say_what_was_asked(reporting_app) -> None:
    organisations(reporting_app, 1)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/no-such-report", headers=admin)
    assert r.status_code == 404 and "no-such-report" in r.json()["error"]
    # A cycle nobody scheduled.
    r = await c.get("/reports/organisations", headers=admin, params={"cycle": "2019-20"})
    assert r.status_code == 404 and "2019-20" in r.json()["error"]
    r = await c.get("/reports/organisations", headers=admin, params={"cycle": "2009"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "cycle"
    # As at a moment before the cycle began: nothing to replay.
    r = await c.get(
        "/reports/organisations",
        headers=admin,
        params={"cycle": "2009-10", "as_at": "2009-09-30T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "as_at"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await c.get(
        "/reports/organisations", headers=admin, params={"cycle": "2009-10", "as_at": future}
    )
    assert r.status_code == 422
    # Query parameters of the wrong shape: each named, with why.
    r = await c.get(
        "/reports/organisations",
        headers=admin,
        params={"as_at": "last tuesday", "format": "pdf", "q": "x" * 201},
    )
    assert r.status_code == 422
    reasons = {d["field"]: d["reason"] for d in r.json()["details"]}
    assert set(reasons) == {"query.as_at", "query.format", "query.q"}
    assert "'json', 'csv' or 'xlsx'" in reasons["query.format"]
    assert "200" in reasons["query.q"]
    # A known cycle stays known (remembered), an unknown one is asked about again each time.
    for _ in range(2):
        r = await c.get("/reports/organisations", headers=admin, params={"cycle": "2009-10"})
        assert r.status_code == 200, r.text
        r = await c.get("/reports/organisations", headers=admin, params={"cycle": "2010-11"})
        assert r.status_code == 404
    reporting_app.history.add(CycleScheduled(cycle="2010-11", timetable=TIMETABLE))
    await reporting_app.record()
    r = await c.get("/reports/organisations", headers=admin, params={"cycle": "2010-11"})
    assert r.status_code == 200, r.text
    # National lists are for the national team, auditors and regulators.
    lead = reporting_app.auth_keys.headers("mapping-lead", org="5A0")
    assert (await c.get("/reports/organisations", headers=lead)).status_code == 403
    assert (await c.get("/reports/organisations")).status_code == 401


async def test_status_and_metrics_show_each_projections_lag(reporting_app) -> None:
    organisations(reporting_app, 2)
    await reporting_app.record()
    status = (await reporting_app.client.get("/status")).json()
    assert status["journal_head"] == 3
    by_name = {p["projection"]: p for p in status["projections"]}
    assert by_name["organisations"]["events_behind"] == 0
    assert by_name["organisations"]["position"] == 3
    text = (await reporting_app.client.get("/metrics")).text
    assert 'csm_projection_lag_events{projection="organisations"} 0.0' in text
    assert 'csm_projection_position{projection="organisations"} 3.0' in text


async def test_the_projection_gauges_are_in_the_kernels_one_metrics_answer(reporting_app) -> None:
    organisations(reporting_app, 2)
    await reporting_app.record()
    r = await reporting_app.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = list(text_string_to_metric_families(r.text))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "a family served twice"
    by_name = {f.name: f for f in families}
    assert "csm_service_info" in by_name and "csm_loop_healthy" in by_name  # the kernel's
    helps = {
        "csm_projection_lag_events": "Journal events not yet applied",
        "csm_projection_lag_seconds": "Age of the oldest event not yet applied",
        "csm_projection_position": "Last journal position applied",
    }
    for name, documentation in helps.items():
        family = by_name[name]
        assert (family.type, family.documentation) == ("gauge", documentation)
        projections = {s.labels["projection"] for s in family.samples}
        assert projections == {p.name for p in PROJECTIONS}
    values = {
        (s.name, s.labels["projection"]): s.value for name in helps for s in by_name[name].samples
    }
    assert values[("csm_projection_position", "organisations")] == 3.0
    assert values[("csm_projection_lag_events", "organisations")] == 0.0
    # Set afresh at each scrape: the position follows the journal as it is applied.
    reporting_app.history.add(
        OrganisationRegistered(
            organisation_id="5B0", code="5B0", name="Later PCT", kind="pct", region="london"
        )
    )
    await reporting_app.record()
    text = (await reporting_app.client.get("/metrics")).text
    positions = {
        s.labels["projection"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "csm_projection_position"
        for s in f.samples
    }
    assert positions["organisations"] == 4.0


async def test_a_rebuild_swaps_in_the_same_rows(reporting_app) -> None:
    organisations(reporting_app, 5)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    before = (await c.get("/reports/organisations", headers=admin)).json()["tables"]
    lead = reporting_app.auth_keys.headers("mapping-lead", org="5A0")
    assert (await c.post("/projections/all/rebuild", headers=lead)).status_code == 403
    assert (await c.post("/projections/nope/rebuild", headers=admin)).status_code == 404
    r = await c.post("/projections/organisations/rebuild", headers=admin)
    assert r.status_code == 202
    await reporting_app.services.admin.rebuilds_done()
    assert reporting_app.services.projector.progress["organisations"].head == 6
    after = (await c.get("/reports/organisations", headers=admin)).json()["tables"]
    assert after == before


async def test_a_report_as_at_a_named_moment(reporting_app) -> None:
    organisations(reporting_app, 2)
    # The cycle clock moves the cycle into summary reports: the moment's defining event.
    reporting_app.history.add(
        CyclePhaseChanged(
            cycle="2009-10",
            old_phase=Phase.DATA_ENTRY,
            phase=Phase.SUMMARY_REPORTS,
            changed_at=TIMETABLE.summary_reports,
            by_clock=True,
        ),
        at=TIMETABLE.summary_reports + timedelta(seconds=1),
    )
    await reporting_app.record()
    # Registered after the summary reports came out: not in the report as it stood then.
    reporting_app.history.add(
        OrganisationRegistered(
            organisation_id="5L1", code="5L1", name="Late PCT", kind="pct", region="london"
        ),
        at=datetime(2010, 2, 1, tzinfo=UTC),
    )
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    params = {"cycle": "2009-10", "moment": "summary-reports"}
    r = await c.get("/reports/organisations", headers=admin, params=params)
    assert r.status_code == 200, r.text
    assert [row["code"] for row in r.json()["tables"][0]["rows"]] == ["5A0", "5A1"]
    assert r.json()["about"]["as_at"].startswith("2010-01-11")
    live = await c.get("/reports/organisations", headers=admin, params={"cycle": "2009-10"})
    assert len(live.json()["tables"][0]["rows"]) == 3
    r = await c.get(
        "/reports/organisations",
        headers=admin,
        params={"cycle": "2009-10", "moment": "sign-off", "organisation": "5A0"},
    )
    assert r.status_code == 404 and "sign-off has not happened" in r.json()["error"]
    r = await c.get(
        "/reports/organisations", headers=admin, params={"cycle": "2009-10", "moment": "sign-off"}
    )
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "organisation"


async def test_money_reports_serialise_as_json_csv_and_xlsx(reporting_app) -> None:
    from responses_history import build

    build(reporting_app.history)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    params = {"cycle": "2009-10", "area": "00AA"}
    r = await c.get("/reports/locality-profile", headers=admin, params=params)
    assert r.status_code == 200, r.text
    # Exact sums arrive as JSON numbers, not strings or a server error.
    numbers = [v for v in r.json()["summary"].values() if isinstance(v, int | float)]
    assert numbers and any(v > 0 for v in numbers)
    for fmt in ("csv", "xlsx"):
        r = await c.get(
            "/reports/locality-profile", headers=admin, params={**params, "format": fmt}
        )
        assert r.status_code == 200 and len(r.content) > 100
    # A mapping lead may read an area's reports, but not another organisation's own reports.
    lead = reporting_app.auth_keys.headers("mapping-lead", org="5B1")
    assert (
        await c.get("/reports/locality-profile", headers=lead, params=params)
    ).status_code == 200
    r = await c.get(
        "/reports/self-assessment-scorecard", headers=lead, params={"organisation": "5A4"}
    )
    assert r.status_code == 403
