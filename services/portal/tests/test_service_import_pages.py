"""Adding services from a file, over a fake registration: the format and template on the page,
every bad line listed before anything is saved, the confirmation naming the checked file (not
sending it again), JSON lines as well as CSV, and who may use it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import more_fakes
from fastapi import FastAPI, Request
from portal_fakes import (
    ADMIN_TOKEN,
    LEAD_TOKEN,
    OWNER_TOKEN,
    REGULATOR_TOKEN,
    browser,
    portal,
    refusal,
)

GOOD_CSV = (
    "cycle,provider_id,name,service_type,age_min,age_max,camhs,camhs_tier,contact_name,"
    "contact_email\r\n"
    "2009-10,5A4,School nursing,universal,5,16,no,,Sam,sam@example.org\r\n"
    "2009-10,5A4,Tier 3 CAMHS,specialist,0,18,yes,3,Pat,pat@example.org\r\n"
)


def with_service_import(apps: dict[str, FastAPI]) -> dict[str, FastAPI]:
    """`POST /directory/services/import` on the fake registration: a line naming a "castle"
    is refused (its line, `service_type`); a dry run that passes keeps the file and answers
    its `upload_id`; `?upload_id=` imports a kept file."""
    app = apps["registration"]
    app.state.kept = {}
    app.state.service_imports = []

    @app.get("/organisations/{code}")
    async def organisation(code: str) -> Any:
        if code != "5A4":
            return refusal(404, f"no organisation {code}")
        return {"code": code, "name": "Anytown PCT", "kind": "pct", "region": "london"}

    @app.post("/directory/services/import")
    async def service_import(request: Request) -> Any:
        body = await request.body()
        params = request.query_params
        app.state.calls.append(
            ("POST", f"/directory/services/import?{params}", request.headers.get("content-type"))
        )
        if params.get("upload_id"):
            if params["upload_id"] not in app.state.kept:
                return refusal(404, "no checked file of yours")
            body = app.state.kept[params["upload_id"]]
        lines = [(n, x) for n, x in enumerate(body.decode().splitlines(), start=1) if x.strip()]
        services = lines[1:] if b"{" not in body[:1] else lines
        bad = [
            {"line": n, "field": "service_type", "reason": "'castle' is not a type of service"}
            for n, x in services
            if "castle" in x
        ]
        if bad:
            return refusal(422, f"{len(bad)} rows have problems", *bad)
        dry_run = params.get("dry_run") == "true"
        upload_id = None
        if dry_run:
            upload_id = str(uuid.uuid4())
            app.state.kept[upload_id] = body
        else:
            app.state.service_imports.append(len(services))
        return {
            "lines": len(services),
            "imported": len(services),
            "unchanged": 0,
            "service_ids": [str(uuid.uuid4()) for _ in services],
            "dry_run": dry_run,
            "upload_id": upload_id,
        }

    return apps


async def test_adding_services_from_a_csv_file() -> None:
    app, fakes = portal(**with_service_import(more_fakes.every()))
    registration = fakes["registration"]
    assert registration is not None
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/services/import")
        template = await client.get("/services/import/template.csv")
        none = await client.post("/services/import", data={})
        preview = await client.post(
            "/services/import", files={"file": ("services.csv", GOOD_CSV.encode(), "text/csv")}
        )
        nothing_yet = list(registration.state.service_imports)
        upload_id = re.search(r'name="upload_id" value="([^"]+)"', preview.text)
        assert upload_id is not None, preview.text
        done = await client.post(
            "/services/import/confirm",
            data={"upload_id": upload_id.group(1), "filename": "services.csv"},
        )
        expired = await client.post(
            "/services/import/confirm",
            data={"upload_id": str(uuid.uuid4()), "filename": "services.csv"},
        )
        home = await client.get("/national")
    assert "camhs_tier" in page.text and "For a CAMHS service only" in page.text
    assert 'href="/services/import/template.csv"' in page.text
    assert template.headers["content-type"].startswith("text/csv")
    assert template.text.startswith("cycle,provider_id,name,")
    assert none.status_code == 422 and "Select a CSV or JSON lines file" in none.text
    assert preview.status_code == 200 and "Add 2 services?" in preview.text
    assert "Tier 3 CAMHS" in preview.text and "Tier 3</td>" in preview.text
    assert "Anytown PCT (5A4)" in preview.text  # the provider by name
    assert nothing_yet == []
    assert registration.state.service_imports == [2]
    assert "2 services added to the directory" in done.text
    assert "Upload the file again" in expired.text and expired.status_code == 422
    calls = [c for c in registration.state.calls if "/directory/services/import" in c[1]]
    assert "dry_run=true" in calls[0][1] and calls[0][2].startswith("text/csv")
    assert "upload_id=" in calls[1][1] and "dry_run=false" in calls[1][1]
    assert 'href="/services/import"' in home.text


async def test_a_file_with_problems_lists_every_line_and_saves_nothing() -> None:
    bad = GOOD_CSV + "2009-10,5A4,Odd,castle,1,2,no,,A,a@b.org\r\n\r\n"
    bad += "2009-10,5A4,Odder,castle,1,2,no,,A,a@b.org\r\n"
    app, fakes = portal(**with_service_import(more_fakes.every()))
    registration = fakes["registration"]
    assert registration is not None
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/services/import", files={"file": ("bad.csv", bad.encode(), "text/csv")}
        )
    assert r.status_code == 422 and "nothing has been saved" in r.text
    assert "2 problems on 2 lines" in r.text
    rows = re.findall(r'numeric">(\d+)</td><td class="[^"]+">(\w+)</td>', r.text)
    assert rows == [("4", "service_type"), ("6", "service_type")]
    assert "&#39;castle&#39; is not a type of service" in r.text
    assert registration.state.service_imports == []
    assert 'name="upload_id"' not in r.text


async def test_json_lines_are_sent_as_json_lines() -> None:
    line = (
        '{"cycle": "2009-10", "provider_id": "5A4", "name": "Portage", "service_type": '
        '"targeted", "client_group": {"age_min": 0, "age_max": 5}, "camhs": false, '
        '"contact": {"name": "A", "email": "a@b.org"}}\n'
    )
    app, fakes = portal(**with_service_import(more_fakes.every()))
    registration = fakes["registration"]
    assert registration is not None
    async with browser(app, LEAD_TOKEN) as client:
        preview = await client.post(
            "/services/import", files={"file": ("mine.jsonl", line.encode(), "text/plain")}
        )
    assert preview.status_code == 200 and "Add 1 service?" in preview.text
    assert "Portage" in preview.text and "0 to 5" in preview.text
    (call,) = [c for c in registration.state.calls if "/directory/services/import" in c[1]]
    assert call[2] == "application/x-ndjson"


async def test_a_lead_may_add_their_services_from_a_file_and_others_may_not() -> None:
    app, _ = portal(**with_service_import(more_fakes.every()))
    async with browser(app, LEAD_TOKEN) as lead:
        page = await lead.get("/services/import")
    async with browser(app, OWNER_TOKEN) as owner:
        owners = await owner.get("/services/import")
    async with browser(app, REGULATOR_TOKEN) as regulator:
        regulators = await regulator.get("/services/import")
    assert page.status_code == 200
    assert "you can add the services your organisation provides or commissions" in page.text
    assert re.search(r'<a href="/services" class="govuk-back-link">\s*Your services', page.text)
    assert owners.status_code == 403 and regulators.status_code == 403
