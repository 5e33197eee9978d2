"""An XLSX download holds any text: a control character (other than tab, CR and LF) in a name
or in the request's own filters used to make openpyxl refuse the cell, and the download was a
500 (found by tests/hostile)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from csm_contracts.events import OrganisationRegistered

pytestmark = pytest.mark.infra

REPLACEMENT = "\ufffd"


async def test_control_characters_in_names_and_filters_do_not_break_an_xlsx_download(
    reporting_app,
) -> None:
    reporting_app.history.add(
        OrganisationRegistered(
            organisation_id="5A4",
            code="5A4",
            name="Bell\x07 and escape\x1b PCT",
            kind="pct",
            region="london",
        )
    )
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/organisations", headers=admin, params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    names = [row[1] for row in book["Organisations"].iter_rows(values_only=True)]
    assert names == ["Name", f"Bell{REPLACEMENT} and escape{REPLACEMENT} PCT"]
    # The request's own search, written on the About sheet.
    r = await c.get(
        "/reports/organisations", headers=admin, params={"format": "xlsx", "q": "pct\x08"}
    )
    assert r.status_code == 200, r.text
    about = openpyxl.load_workbook(io.BytesIO(r.content))["About"]
    assert ["Search", f"pct{REPLACEMENT}"] in [
        list(row) for row in about.iter_rows(values_only=True)
    ]
    # The CSV keeps the text as it is: only the spreadsheet cannot hold it.
    r = await c.get(
        "/reports/organisations", headers=admin, params={"format": "csv", "table": "organisations"}
    )
    assert r.status_code == 200 and "Bell\x07 and escape\x1b PCT" in r.content.decode("utf-8-sig")
