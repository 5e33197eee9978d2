"""Report files that cannot attack their reader, and download names that cannot break the
response: over the real reporting service (embedded PostgreSQL, events through the journal and
the projectors), and once over a real HTTP server, where a broken header used to drop the
connection."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import socket
import uuid
import zipfile
from collections.abc import AsyncIterator

import httpx
import openpyxl
import pytest
import uvicorn

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.directory import ServiceRegistered
from progress_history import CYCLE, at, organisations, schedule, service_fields

HYPERLINK = '=HYPERLINK("http://x","y")'
CALC = "=cmd|' /C calc'!A0"


def hostile_history(app) -> None:
    """The usual organisations and cycle, an organisation and a service with formula names."""
    h = app.history
    organisations(h)
    schedule(h)
    for code, name in (("5H1", HYPERLINK), ("5H2", CALC)):
        h.add(
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                name=name,
                kind="pct",
                region="london",
                partnership_areas=["00AA"],
            )
        )
    fields = service_fields("5H1", CALC, camhs=True, camhs_tier=3, description="@SUM(1+1)")
    h.add(ServiceRegistered(service_id=str(uuid.uuid4()), **fields), at=at(11, 3))


def csv_lines(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def unzipped(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {n: archive.read(n).decode("utf-8-sig") for n in archive.namelist()}


async def test_formula_names_come_out_of_csv_as_quoted_text(reporting_app) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/organisations", headers=admin, params={"format": "csv"})
    assert r.status_code == 200, r.text
    files = unzipped(r.content)
    text = files["organisations.csv"]
    # Quoted, with the single quote in front: a spreadsheet shows it and runs nothing.
    assert '"5H1","\'=HYPERLINK(""http://x"",""y"")"' in text
    assert '"5H2","\'=cmd|\' /C calc\'!A0"' in text
    lines = csv_lines(text.encode())
    names = {line[0]: line[1] for line in lines if line and line[0] in ("5H1", "5H2", "5A4")}
    assert names == {"5H1": "'" + HYPERLINK, "5H2": "'" + CALC, "5A4": "Anytown PCT"}
    # A true number stays a bare number.
    assert '"Organisations",5\r\n' in files["summary.csv"]

    r = await c.get(
        "/reports/directory",
        headers=admin,
        params={"cycle": CYCLE, "format": "csv", "table": "services"},
    )
    assert r.status_code == 200, r.text
    lines = csv_lines(r.content)
    header = next(line for line in lines if line[:1] == ["Service"])
    [row] = [line for line in lines if line[:1] == ["'" + CALC]]
    record = dict(zip(header, row, strict=True))
    assert record["Description"] == "'@SUM(1+1)"
    assert record["CAMHS tier"] == "3" and ',3,"' in r.content.decode("utf-8-sig")


async def test_formula_names_come_out_of_xlsx_as_string_cells(reporting_app) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get("/reports/organisations", headers=admin, params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    names = {row[0].value: row[1] for row in book["Organisations"].iter_rows(min_row=2)}
    for code, name in (("5H1", HYPERLINK), ("5H2", CALC)):
        assert names[code].data_type == "s" and names[code].value == name
    count = next(row[1] for row in book["About"].iter_rows() if row[0].value == "Organisations")
    assert count.data_type == "n" and count.value == 5

    r = await c.get("/reports/directory", headers=admin, params={"cycle": CYCLE, "format": "xlsx"})
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["Services"]
    header = [cell.value for cell in sheet[1]]
    [row] = [row for row in sheet.iter_rows(min_row=2) if row[0].value == CALC]
    record = dict(zip(header, row, strict=True))
    assert record["Service"].data_type == "s"
    assert (record["Description"].data_type, record["Description"].value) == ("s", "@SUM(1+1)")
    assert (record["CAMHS tier"].data_type, record["CAMHS tier"].value) == ("n", 3)
    assert (record["CAMHS"].data_type, record["CAMHS"].value) == ("b", True)


#: A stamp as the files carry it.
_STAMP = r"\d{8}T\d{6}Z"


async def test_a_download_names_its_file_per_rfc_6266(reporting_app) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    for report, params, stem in (
        ("locality-profile", {"cycle": CYCLE, "area": "00AA"}, "locality-profile-2009-10-00AA"),
        ("return-progress", {"cycle": CYCLE, "organisation": "5A4"}, "return-progress-2009-10-5A4"),
        ("organisations", {"region": "london"}, "organisations-london"),
    ):
        for fmt in ("csv", "xlsx"):
            r = await c.get(f"/reports/{report}", headers=admin, params={**params, "format": fmt})
            assert r.status_code == 200, r.text
            name = rf"{stem}-{_STAMP}\.{'zip' if fmt == 'csv' else fmt}"
            assert re.fullmatch(
                rf"attachment; filename=\"({name})\"; filename\*=UTF-8''\1",
                r.headers["content-disposition"],
            ), r.headers["content-disposition"]


@pytest.mark.parametrize(
    ("report", "params", "field"),
    [
        ("return-progress", {"organisation": 'a"b'}, "organisation"),
        ("return-progress", {"organisation": '5A4"; filename="x.exe'}, "organisation"),
        ("locality-profile", {"area": "00AA\r\nSet-Cookie: a=b"}, "area"),
        ("locality-profile", {"area": "00A\n"}, "area"),  # "$" would let a final \n through
        ("locality-profile", {"area": "00aa"}, "area"),
        ("organisations", {"region": "london\r\n"}, "region"),
        ("organisations", {"region": "atlantis"}, "region"),
        ("organisations", {"cycle": "2009-10\n"}, "cycle"),
        ("directory", {"organisation": "=1+1"}, "organisation"),
        (
            "organisations",
            {"cycle": "2009-10", "moment": "sign-off", "organisation": "x\r\n"},
            "organisation",
        ),
    ],
)
async def test_a_malformed_code_is_refused_naming_the_parameter(
    reporting_app, report: str, params: dict[str, str], field: str
) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    for fmt in ("csv", "xlsx", "json"):
        query = {"cycle": CYCLE, **params, "format": fmt}
        r = await c.get(f"/reports/{report}", headers=admin, params=query)
        assert r.status_code == 422, (fmt, r.status_code, r.text)
        assert [d["field"] for d in r.json()["details"]] == [field]
        assert "content-disposition" not in r.headers


async def test_a_well_formed_unknown_code_keeps_its_answer(reporting_app) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    c, admin = reporting_app.client, reporting_app.admin
    r = await c.get(
        "/reports/return-progress",
        headers=admin,
        params={"cycle": CYCLE, "organisation": "9Z9", "format": "csv"},
    )
    assert r.status_code == 404 and "9Z9" in r.json()["error"]
    r = await c.get(
        "/reports/locality-profile",
        headers=admin,
        params={"cycle": CYCLE, "area": "9Z99", "format": "csv"},
    )
    assert r.status_code == 404 and "9Z99" in r.json()["error"]


@pytest.fixture
async def served(reporting_app) -> AsyncIterator[httpx.AsyncClient]:
    """The same app behind a real uvicorn on a local port: a header a server cannot write
    shows up here as a dropped connection, which the in-process transport does not show."""
    config = uvicorn.Config(reporting_app.app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    # Listening before the server starts: a request made meanwhile waits in the backlog.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task
        sock.close()


async def test_cr_lf_in_a_download_parameter_gets_an_answer(reporting_app, served) -> None:
    hostile_history(reporting_app)
    await reporting_app.record()
    admin = reporting_app.admin
    for report, params, field in (
        # The organisations report does not look the region up: this one reached the header.
        ("organisations", {"region": "london\r\nX-Injected: 1"}, "region"),
        ("locality-profile", {"cycle": CYCLE, "area": "00AA\r\nX-Injected: 1"}, "area"),
        (
            "return-progress",
            {"cycle": CYCLE, "organisation": '5A4"\r\nX-Injected: 1'},
            "organisation",
        ),
    ):
        r = await served.get(
            f"/reports/{report}", headers=admin, params={**params, "format": "csv"}
        )
        assert r.status_code == 422, r.text
        assert [d["field"] for d in r.json()["details"]] == [field]
        assert "x-injected" not in r.headers
    r = await served.get(
        "/reports/locality-profile",
        headers=admin,
        params={"cycle": CYCLE, "area": "00AA", "format": "xlsx"},
    )
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="locality-profile-')
