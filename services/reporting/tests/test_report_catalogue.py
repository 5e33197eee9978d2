"""The catalogue each caller is offered (`GET /reports`) and the subjects they may pick
(`GET /reports/{name}/subjects`), checked against the reports' real answers: every report
listed for a role opens for that role (200), for a subject the picker offered it, and every
report left out answers 403. Then CSV downloads: one table per file, plain numbers."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from responses_history import build

ROLES = [
    ("national-admin", None),
    ("auditor", None),
    ("regulator", None),
    ("mapping-lead", "5A4"),
    ("group-owner", "5A4"),
]


@pytest.mark.parametrize(("role", "org"), ROLES)
async def test_every_report_offered_opens_and_no_other_does(reporting_app, role, org) -> None:
    build(reporting_app.history)
    await reporting_app.record()
    c = reporting_app.client
    headers = (
        reporting_app.auth_keys.headers(role, org=org)
        if org
        else (reporting_app.auth_keys.headers(role))
    )
    r = await c.get("/reports", headers=headers)
    assert r.status_code == 200, r.text
    offered = {entry["name"]: entry for entry in r.json()}
    assert offered, "every role reads some report"
    every = (await c.get("/reports", headers=reporting_app.admin)).json()
    for entry in every:
        name, scope = entry["name"], entry["scope"]
        params: dict[str, str] = {"cycle": "2009-10"} if entry["needs_cycle"] else {}
        if scope in ("area", "organisation"):
            subjects = await c.get(f"/reports/{name}/subjects", headers=headers)
            if name not in offered:
                assert subjects.status_code == 403, (role, name)
                params[scope] = "00AA" if scope == "area" else (org or "5A4")
            else:
                assert subjects.status_code == 200, subjects.text
                picked = subjects.json()["subjects"]
                assert picked, (role, name, "nothing to pick")
                if offered[name]["subject"] == "own":
                    assert [s["code"] for s in picked] == [org]
                params[scope] = picked[0]["code"]
        elif scope == "region":
            params["region"] = "london"
        answer = await c.get(f"/reports/{name}", headers=headers, params=params)
        expected = 200 if name in offered else 403
        assert answer.status_code == expected, (role, name, params, answer.text)


async def test_a_lead_is_offered_only_what_they_may_open(reporting_app) -> None:
    build(reporting_app.history)
    await reporting_app.record()
    lead = reporting_app.auth_keys.headers("mapping-lead", org="5A4")
    offered = {
        e["name"]: e["subject"]
        for e in (await reporting_app.client.get("/reports", headers=lead)).json()
    }
    assert offered["locality-profile"] == "any"
    assert offered["self-assessment-scorecard"] == "own"
    for national in ("annual-report", "cycle-progress", "organisations", "cqc-performance"):
        assert national not in offered


async def test_the_picker_searches_areas_and_organisations_by_name_or_code(reporting_app) -> None:
    build(reporting_app.history)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/locality-profile/subjects", headers=admin, params={"q": "other"})
    assert r.json() == {
        "subjects": [{"code": "00AB", "name": "Otherborough Council", "region": "london"}],
        "total": 1,
    }
    r = await c.get("/reports/return-progress/subjects", headers=admin, params={"limit": 2})
    body = r.json()
    assert body["total"] == 6 and len(body["subjects"]) == 2
    names = [s["name"] for s in body["subjects"]]
    assert names == ["Anytown Council", "Anytown Mental Health Trust"]
    # A percent sign is a character to find, not a wildcard.
    r = await c.get("/reports/return-progress/subjects", headers=admin, params={"q": "%"})
    assert r.json() == {"subjects": [], "total": 0}
    r = await c.get("/reports/annual-report/subjects", headers=admin)
    assert r.status_code == 422


def _unzipped(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {n: archive.read(n).decode("utf-8-sig") for n in archive.namelist()}


async def test_a_multi_table_csv_is_a_zip_of_single_tables(reporting_app) -> None:
    build(reporting_app.history)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    params = {"cycle": "2009-10", "area": "00AA"}
    body = (await c.get("/reports/locality-profile", headers=admin, params=params)).json()
    r = await c.get("/reports/locality-profile", headers=admin, params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    files = _unzipped(r.content)
    tables = {t["name"]: t for t in body["tables"]}
    assert set(files) == {"README.txt", "summary.csv", *(f"{n}.csv" for n in tables)}
    readme = files.pop("README.txt")
    assert "Cycle: 2009-10" in readme and "Area: 00AA" in readme
    for name, text in files.items():
        rows = list(csv.reader(io.StringIO(text)))
        # One table: every row as wide as its header, no blank lines, no titles.
        assert rows and all(len(row) == len(rows[0]) for row in rows), name
        # Plain numbers: no exponent anywhere (7.6E+5 was how money came out).
        assert not re.search(r"(?<![A-Za-z])\d(\.\d+)?[eE][+-]?\d", text), name
        if name != "summary.csv":
            table = tables[name.removesuffix(".csv")]
            assert rows[0] == [col["label"] for col in table["columns"]]
            assert len(rows) == len(table["rows"]) + 1
    name = next(iter(tables))
    one = await c.get(
        "/reports/locality-profile",
        headers=admin,
        params={**params, "format": "csv", "table": name},
    )
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/csv")
    assert one.content.decode("utf-8-sig") == files[f"{name}.csv"]
    missing = await c.get(
        "/reports/locality-profile",
        headers=admin,
        params={**params, "format": "csv", "table": "nothing"},
    )
    assert missing.status_code == 422
    assert missing.json()["details"][0]["field"] == "table"
