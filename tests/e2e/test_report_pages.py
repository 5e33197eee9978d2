"""The reports pages in a real browser (Playwright driving Debian's Chromium) against every
service as its own process, with a small national data set made through the services' APIs:
organisations in three regions with their leads, a cycle in data entry, self-assessments
answered and submitted, one return signed off.

For each role (national admin, regulator, auditor, mapping lead): the person lands on a page
made for them; every link on it and on the reports page opens without an error (a report
about one area or organisation asks which, and the first choice opens); charts are drawn by
vega-embed as SVG under the strict Content-Security-Policy (no violation reported), with the
table beside them; downloads parse with Python's csv module as single tables. Screenshots at
1280 and 375 px go to var/test-artefacts/reports/."""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright
from test_portal_journey import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    link_in,
    mail_to,
    sign_in,
    watch,
)

from service_processes import ServiceProcess, portal_stack

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "reports"
CYCLE = "2009-10"
#: Pages that are errors, whatever their status code says.
ERRORS = ("You cannot see this page", "Page not found", "There is a problem", "Sorry, ")
#: Codes a page must show by their names (regions, kinds, phases, statuses, reports);
#: "self-assessment" is English too, so only its report names are looked for.
IDS = re.compile(
    r"\b(north-east|north-west|yorkshire-and-the-humber|east-midlands|west-midlands"
    r"|east-of-england|south-east|south-west|pct-commissioning|pct-provider|local-authority"
    r"|nhs-trust-[a-z-]+|third-sector|private-provider|data-entry|summary-reports|in-progress"
    r"|not-started|cycle-progress[a-z-]*|locality-[a-z]+|data-quality[a-z-]*"
    r"|annual-report|return-progress|self-assessment-scorecards?)\b"
)


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    with portal_stack(
        infra, auth_keys, tmp_path_factory.mktemp("e2e-reports"), "reports"
    ) as running:
        yield running


def code(prefix: str) -> str:
    return prefix + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))


def set_up(client: httpx.Client, infra: Any, stack: Any, email: str) -> None:
    """The account's password, from the set-up link emailed to it."""
    portal = stack["portal"].url
    link = link_in(mail_to(infra, email, "Set up your"), re.escape(portal) + "/account/set-up")
    token = re.search(r"token=([^&\s]+)", link)
    assert token, link
    r = client.post(
        f"{stack['registration'].url}/auth/set-up",
        json={"token": token.group(1), "password": PASSWORD},
    )
    assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def data(stack: Any, infra: Any, auth_keys: Any) -> dict[str, Any]:
    """Organisations in three regions with leads, a cycle in data entry, two self-assessments
    submitted (one return signed off), and accounts for each reader role."""
    registration, questionnaire = stack["registration"].url, stack["questionnaire"].url
    admin = auth_keys.headers("national-admin")
    las = [code("L"), code("L")]
    pcts = [(code("P"), "london", las[0]), (code("P"), "east-midlands", las[1])]
    pcts.append((code("P"), "north-west", las[1]))
    people = {
        role: f"{role}-{secrets.token_hex(3)}@example.gov.uk"
        for role in ("national-admin", "regulator", "auditor")
    }
    people["mapping-lead"] = f"lead-{secrets.token_hex(3)}@pct.nhs.uk"
    with httpx.Client(timeout=30) as client:
        for la, region in zip(las, ("london", "east-midlands"), strict=True):
            r = client.post(
                f"{registration}/organisations",
                headers=admin,
                json={
                    "code": la,
                    "name": f"{la} Council",
                    "kind": "local-authority",
                    "region": region,
                    "partnership_areas": [la],
                },
            )
            assert r.status_code == 201, r.text
        for pct, region, area in pcts:
            r = client.post(
                f"{registration}/organisations",
                headers=admin,
                json={
                    "code": pct,
                    "name": f"{pct} Primary Care Trust",
                    "kind": "pct",
                    "region": region,
                    "partnership_areas": [area],
                },
            )
            assert r.status_code == 201, r.text
        r = client.put(
            f"{registration}/organisations/{pcts[0][0]}/lead",
            headers=admin,
            json={"email": people["mapping-lead"], "name": "Ann Lead"},
        )
        assert r.status_code == 201, r.text
        for role in ("national-admin", "regulator", "auditor"):
            r = client.post(
                f"{registration}/accounts",
                headers=admin,
                json={"email": people[role], "name": f"A {role}", "role": role},
            )
            assert r.status_code == 201, r.text
        for email in people.values():
            set_up(client, infra, stack, email)
        now = datetime.now(UTC)
        r = client.post(
            f"{questionnaire}/cycles",
            headers=admin,
            json={
                "cycle": CYCLE,
                "timetable": {
                    "sandbox_opens": (now - timedelta(days=30)).isoformat(),
                    "data_entry_opens": (now - timedelta(seconds=1)).isoformat(),
                    "summary_reports": (now + timedelta(days=60)).isoformat(),
                    "data_entry_closes": (now + timedelta(days=100)).isoformat(),
                    "publication": (now + timedelta(days=140)).isoformat(),
                },
            },
        )
        assert r.status_code == 201, r.text
        for i, (pct, _, _) in enumerate(pcts[:2]):
            lead = auth_keys.headers("mapping-lead", org=pct)
            owed: list[dict[str, Any]] = []
            deadline = time.monotonic() + 90
            while not owed and time.monotonic() < deadline:
                r = client.get(
                    f"{questionnaire}/questionnaires", params={"cycle": CYCLE}, headers=lead
                )
                owed = [q for q in r.json() if q["kind"] == "self-assessment"]
                time.sleep(0.3)
            [sa] = owed
            view = client.get(f"{questionnaire}/questionnaires/{sa['id']}", headers=lead).json()
            answers = {
                q["id"]: {"score": 1 + (n + i) % 3, "evidence": "Board minutes"}
                for n, q in enumerate(q for s in view["sections"] for q in s["questions"])
            }
            r = client.patch(
                f"{questionnaire}/questionnaires/{sa['id']}/answers",
                headers=lead,
                json={"version": view["version"], "answers": answers},
            )
            assert r.status_code == 200, r.text
            r = client.post(f"{questionnaire}/questionnaires/{sa['id']}/submit", headers=lead)
            assert r.status_code == 200, r.text
        r = client.post(
            f"{questionnaire}/cycles/{CYCLE}/returns/{pcts[0][0]}/sign-off",
            headers=auth_keys.headers("mapping-lead", org=pcts[0][0]),
            json={"confirm": True},
        )
        assert r.status_code == 200, r.text
    return {"people": people, "pcts": pcts, "las": las}


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(
            path=str(ARTEFACTS / f"{name}-{width}.png"), full_page=True, caret="initial"
        )
    page.set_viewport_size({"width": 1280, "height": 900})


def opens(page: Any, url: str) -> None:
    """`url` answers 200 with a page that is not an error, naming things by their names
    (no region, kind, phase, status or report shown by its code)."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    text = page.locator("main").inner_text()
    for error in ERRORS:
        assert error not in text, (url, text[:500])
    shown_ids = sorted({m.group(0) for m in IDS.finditer(text)})
    assert not shown_ids, (url, shown_ids)


def main_links(page: Any) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "main a[href^='/']", "links => links.map(a => a.getAttribute('href'))"
    )
    return sorted({h for h in hrefs if "/download" not in h and not h.startswith("/#")})


def every_report_opens(page: Any, portal: str, role: str) -> list[str]:
    """Every report the reports page offers opens; one about an area or organisation asks
    which, and the first choice opens."""
    opens(page, f"{portal}/reports")
    offered = [h for h in main_links(page) if h.startswith("/reports/")]
    assert offered
    pictured = False
    for href in offered:
        opens(page, portal + href)
        if page.locator("form.csm-picker-choose").count():
            if not pictured:
                shot(page, f"picker-{role}")
                pictured = True
            page.click("form.csm-picker-choose button")
            page.wait_for_load_state()
            assert "/reports/" in page.url and page.locator("h1").count() == 1
            for error in ERRORS:
                assert error not in page.locator("main").inner_text(), page.url
    return offered


@pytest.mark.timeout(900)
def test_every_role_sees_only_reports_that_open(stack, data) -> None:
    portal = stack["portal"].url
    people = data["people"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        violations: list[str] = []
        try:
            for role, home in (
                ("national-admin", "/national"),
                ("regulator", "/regulator"),
                ("auditor", "/auditor"),
                ("mapping-lead", f"/returns/{CYCLE}"),
            ):
                context = watch(browser.new_context(), violations)
                page = context.new_page()
                page.set_default_timeout(30_000)
                sign_in(page, portal, people[role])
                page.wait_for_url(re.compile(re.escape(home)))
                # No navigation link leads to an error page.
                nav = page.eval_on_selector_all(
                    ".govuk-service-navigation a[href^='/']",
                    "links => links.map(a => a.getAttribute('href'))",
                )
                assert "/reports" in nav
                for link in sorted(set(nav)):
                    opens(page, portal + link)
                page.goto(portal + home)
                if role in ("regulator", "auditor"):
                    shot(page, f"{role}-home")
                    for link in main_links(page):
                        opens(page, portal + link)
                offered = every_report_opens(page, portal, role)
                page.goto(f"{portal}/reports")
                shot(page, f"reports-{role}")
                if role == "national-admin":
                    # Search as you type: the organisations matching what is typed, and the
                    # chosen one's report.
                    pct = data["pcts"][1][0]
                    opens(page, f"{portal}/reports/return-progress?cycle={CYCLE}")
                    page.locator("#find").press_sequentially(pct[:3].lower(), delay=80)
                    option = page.locator(".autocomplete__option", has_text=pct)
                    option.wait_for()
                    page.screenshot(path=str(ARTEFACTS / "picker-typing-1280.png"))
                    option.click()
                    page.wait_for_url(re.compile(rf"organisation={pct}"))
                    assert pct in page.locator("main").inner_text()
                if role == "mapping-lead":
                    assert not any("annual-report" in h for h in offered)
                    assert any("self-assessment-scorecard?organisation=" in h for h in offered)
                context.close()
        finally:
            browser.close()
    assert not violations, violations


@pytest.mark.timeout(600)
def test_charts_are_drawn_with_their_tables_and_downloads_are_single_tables(stack, data) -> None:
    portal = stack["portal"].url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        violations: list[str] = []
        try:
            context = watch(browser.new_context(), violations)
            page = context.new_page()
            page.set_default_timeout(30_000)
            sign_in(page, portal, data["people"]["national-admin"])
            page.wait_for_url(re.compile("/national"))
            # Reporting catches up with the submissions asynchronously.
            deadline = time.monotonic() + 90
            url = f"{portal}/reports/self-assessment-scorecards?cycle={CYCLE}"
            while True:
                page.goto(url)
                if page.locator(".csm-grade--red, .csm-grade--amber").count():
                    break
                assert time.monotonic() < deadline, "the scorecards never arrived"
                time.sleep(1)
            for name, query in (
                ("self-assessment-scorecards", f"cycle={CYCLE}"),
                ("cycle-progress", f"cycle={CYCLE}"),
                ("cycle-progress-over-time", f"cycle={CYCLE}"),
                ("annual-report", ""),
            ):
                opens(page, f"{portal}/reports/{name}?{query}")
                if name == "cycle-progress":
                    # Its description names its week-by-week companion by title, as a link.
                    described = page.locator("main p a", has_text="Cycle progress week by week")
                    assert described.count() == 1
                    assert described.get_attribute("href") == (
                        f"/reports/cycle-progress-over-time?cycle={CYCLE}"
                    )
                charts = page.locator(".csm-chart")
                assert charts.count() >= 1, name
                # vega-embed drew every chart as SVG, and its figures are in a table here.
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.csm-chart__canvas')]"
                    ".every(c => c.querySelector('svg .mark-rect, svg .mark-line'))"
                )
                for i in range(charts.count()):
                    target = charts.nth(i).locator(".csm-chart__table-link a").get_attribute("href")
                    assert target and page.locator(f"{target} table").count() == 1
                svg_text = page.locator(".csm-chart__canvas svg").first.inner_html()
                assert "Total" not in svg_text
                shot(page, f"chart-{name}")
                # The charts alone, close up, at both widths (loaded at that width, as a phone
                # would: a chart lays itself out for the width it is first drawn at).
                for width in (1280, 375):
                    page.set_viewport_size({"width": width, "height": 900})
                    page.reload()
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('.csm-chart__canvas')]"
                        ".every(c => c.querySelector('svg .mark-rect, svg .mark-line'))"
                    )
                    for i in range(charts.count()):
                        charts.nth(i).screenshot(
                            path=str(ARTEFACTS / f"chart-{name}-{i + 1}-{width}.png")
                        )
                page.set_viewport_size({"width": 1280, "height": 900})
            # The year-on-year table names its groups: National, then each region by name.
            opens(page, f"{portal}/reports/data-quality?cycle={CYCLE}")
            groups = page.locator("#table-year_on_year tbody tr td:first-child").all_inner_texts()
            assert groups[0] == "National" and "North West" in groups, groups
            shot(page, "data-quality-year-on-year")
            # Without JavaScript the table is all there is, and it is there.
            nojs = watch(browser.new_context(java_script_enabled=False), violations).new_page()
            sign_in(nojs, portal, data["people"]["national-admin"])
            nojs.wait_for_url(re.compile("/national"))
            opens(nojs, f"{portal}/reports/cycle-progress?cycle={CYCLE}")
            assert nojs.locator("#table-regions table").count() == 1
            assert nojs.locator(".csm-chart__caption").first.is_visible()
            shot(nojs, "chart-cycle-progress-nojs")

            # Downloads: a ZIP of single-table CSVs with a README, or one table's CSV.
            r = page.request.get(
                f"{portal}/reports/cycle-progress/download?format=csv&cycle={CYCLE}"
            )
            assert r.status == 200 and r.headers["content-type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(r.body())) as archive:
                names = archive.namelist()
                assert "README.txt" in names and "regions.csv" in names
                for member in names:
                    if member.endswith(".csv"):
                        rows = list(
                            csv.reader(io.StringIO(archive.read(member).decode("utf-8-sig")))
                        )
                        assert rows and all(len(row) == len(rows[0]) for row in rows), member
                        assert not any(
                            re.fullmatch(r"-?\d+(\.\d+)?[eE][+-]?\d+", c)
                            for row in rows
                            for c in row
                        ), member
            page.goto(f"{portal}/reports/cycle-progress?cycle={CYCLE}")
            link = page.locator("#table-organisations .csm-table-download a").get_attribute("href")
            r = page.request.get(portal + link)
            assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(r.body().decode("utf-8-sig"))))
            assert rows[0][:3] == ["Region", "Code", "Name"]
            assert {row[1] for row in rows[1:]} >= {pct for pct, _, _ in data["pcts"]}
            assert all(len(row) == len(rows[0]) for row in rows)
        finally:
            browser.close()
    assert not violations, violations
