"""The participation page's API: filters, counts per filter, search, sort, pages and the CSV
download, over the live projections."""

from __future__ import annotations

import csv
import io

from csm_contracts.events import OrganisationRegistered
from progress_history import CYCLE, at, issue, progress_history, save


async def _get(app, **params):
    r = await app.client.get(f"/cycles/{CYCLE}/participation", headers=app.admin, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_filters_counts_and_status(reporting_app) -> None:
    progress_history(reporting_app.history)
    await reporting_app.record()
    body = await _get(reporting_app)
    by_code = {r["code"]: r for r in body["rows"]}
    assert [r["code"] for r in body["rows"]] == ["00AA", "5A4", "00BB"]  # by name
    assert body["total"] == 3 and body["pages"] == 1 and body["phase"] == "data-entry"
    aa, pct, bb = by_code["00AA"], by_code["5A4"], by_code["00BB"]
    assert (aa["status"], aa["reopenings"], aa["overdue"]) == ("signed-off", 1, False)
    assert aa["last_activity"].startswith("2010-03-05")  # the second sign-off
    # 5A4: one questionnaire with a delegate (so in progress), its cancelled one not owed.
    assert (pct["status"], pct["issued"], pct["submitted"]) == ("in-progress", 2, 0)
    assert pct["extension_until"].startswith("2010-03-14") and pct["overdue"] is True
    assert bb["status"] == "in-progress" and bb["deadline"].startswith("2010-02-28")
    assert body["counts"]["status"] == {
        "not-started": 0,
        "in-progress": 2,
        "submitted": 0,
        "signed-off": 1,
        "overdue": 2,
        "extended": 1,
        "reopened": 1,
    }
    assert body["counts"]["region"] == {"london": 2, "north-east": 1}
    assert body["counts"]["kind"] == {"local-authority": 2, "pct": 1}
    assert body["summary"] == {"organisations": 3, "signed_off": 1, "issued": 5, "submitted": 2}

    # Faceted: each filter's counts take the others as asked, not itself.
    overdue = await _get(reporting_app, status="overdue")
    assert [r["code"] for r in overdue["rows"]] == ["5A4", "00BB"]
    assert overdue["counts"]["region"] == {"london": 1, "north-east": 1}
    assert overdue["counts"]["status"]["signed-off"] == 1
    london = await _get(reporting_app, region="london", status="overdue")
    assert [r["code"] for r in london["rows"]] == ["5A4"] and london["total"] == 1
    assert london["counts"]["status"]["overdue"] == 1
    assert (await _get(reporting_app, status="extended"))["total"] == 1
    assert [r["code"] for r in (await _get(reporting_app, status="reopened"))["rows"]] == ["00AA"]
    assert (await _get(reporting_app, kind="pct"))["total"] == 1


async def test_search_sort_and_pages(reporting_app) -> None:
    progress_history(reporting_app.history)
    for i in range(30):
        code = f"9X{i:02d}"
        reporting_app.history.add(
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                name=f"Provider {i:02d} 100%_care",
                kind="third-sector",
                region="south-west",
                partnership_areas=["00BB"],
            ),
            at=at(10, 5),
        )
        issue(reporting_app.history, code, f"q-{code}", "service", f"svc-{code}")
        if i % 3 == 0:
            save(reporting_app.history, code, f"q-{code}", at(11, 1 + i % 28))
    await reporting_app.record()
    first = await _get(reporting_app, per_page=10, sort="name")
    assert first["total"] == 33 and first["pages"] == 4
    assert [r["code"] for r in first["rows"]][:2] == ["00AA", "5A4"]
    last = await _get(reporting_app, per_page=10, page=4)
    assert [r["code"] for r in last["rows"]] == ["9X27", "9X28", "9X29"]
    assert (await _get(reporting_app, per_page=10, page=9))["rows"] == []
    # Search takes % and _ as they are, in the name or code, any case.
    found = await _get(reporting_app, q="100%_CARE")
    assert found["total"] == 30 and found["counts"]["status"]["not-started"] == 20
    assert (await _get(reporting_app, q="9x07"))["rows"][0]["name"] == "Provider 07 100%_care"
    assert (await _get(reporting_app, q="1000%"))["total"] == 0
    # The busiest last; never-touched ones first when ascending.
    active = await _get(reporting_app, sort="last-activity", order="desc", per_page=3)
    assert active["rows"][0]["code"] == "00AA"
    quiet = await _get(reporting_app, sort="last-activity", per_page=1)
    assert quiet["rows"][0]["last_activity"] is None
    by_status = await _get(reporting_app, sort="status", order="desc", per_page=1)
    assert by_status["rows"][0]["code"] == "00AA"
    by_region = await _get(reporting_app, sort="region", per_page=40)
    assert [r["region"] for r in by_region["rows"]][-1] == "south-west"
    deadline = await _get(reporting_app, sort="deadline", order="desc", per_page=1)
    assert deadline["rows"][0]["code"] == "5A4"  # its extension


async def test_csv_download_of_the_filtered_list(reporting_app) -> None:
    progress_history(reporting_app.history)
    await reporting_app.record()
    r = await reporting_app.client.get(
        f"/cycles/{CYCLE}/participation",
        headers=reporting_app.admin,
        params={"format": "csv", "region": "london", "per_page": 1},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="2009-10-participation-london.csv"' in r.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(r.text)))
    assert lines[0][:5] == ["Code", "Name", "Kind", "Region", "Status"]
    assert [line[0] for line in lines[1:]] == ["00AA", "5A4"]  # every row, not one page
    assert lines[2][lines[0].index("Overdue")] == "Yes"
    assert lines[2][lines[0].index("Extended until")].startswith("2010-03-14T")


async def test_refusals(reporting_app) -> None:
    progress_history(reporting_app.history)
    await reporting_app.record()
    c = reporting_app.client
    url = f"/cycles/{CYCLE}/participation"
    lead = dict(reporting_app.auth_keys.headers("mapping-lead", org="5A4"))
    assert (await c.get(url, headers=lead)).status_code == 403
    assert (await c.get(url)).status_code == 401
    missing = await c.get("/cycles/2001-02/participation", headers=reporting_app.admin)
    assert missing.status_code == 404
    for params in ({"status": "lost"}, {"sort": "size"}, {"page": 0}, {"per_page": 1000}):
        r = await c.get(url, headers=reporting_app.admin, params=params)
        assert r.status_code == 422, params
        assert r.json()["details"][0]["field"].endswith(next(iter(params))), r.text
