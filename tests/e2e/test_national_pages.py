"""The national team's pages at national scale, in a real browser against every service as its
own process: 5,000 organisations and their returns made through the services' real APIs and
bulk paths once per run (`national_data.build`: bulk import, a scheduled cycle's bulk issue,
leads answering, submitting and signing off, extensions, reopenings, a close that has passed).
The participation page pages, sorts, filters (with counts, every filter with members),
searches and downloads its filtered list as CSV, with and without JavaScript, and answers
promptly; the organisations list (forward a page and back), the delivery log and the reports'
organisation picker work at that scale; the accounts page adds an auditor and disables them
after a confirmation; the phase form offers only phases ahead and confirms; reopening a return
confirms and says what happens; organisations and services are registered from files (every
bad line listed first); a bulletin is checked and sent, and another scheduled for tomorrow (a
past date refused) and cancelled after a confirmation.

Screenshots at 1280 and 375 px go to var/test-artefacts/national/, with the data set's build
time and the pages' answer times in timings.json."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
from national_data import CYCLE, NationalData, build
from playwright.sync_api import sync_playwright
from test_portal_journey import (
    CHROMIUM,
    CHROMIUM_ARGS,
    link_in,
    mail_to,
    set_password,
    sign_in,
    watch,
)

from service_processes import ServiceProcess, portal_stack

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "national"
#: Seconds a page may take to answer here. Generous: the machine is shared and loaded; the
#: real figure is bench/portal_participation.py's (docs/benchmarks.md).
PROMPT = 15.0
STATUS_LABELS = (
    "Not started",
    "In progress",
    "Submitted",
    "Signed off",
    "Overdue",
    "Extended",
    "Reopened",
)
TIMINGS: dict[str, Any] = {}
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    with portal_stack(
        infra, auth_keys, tmp_path_factory.mktemp("e2e-national"), "national"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def national(stack, auth_keys) -> NationalData:
    """The national data set, built once for the module; its build time and the CPU seconds
    each service spent on it go to timings.json."""
    processes = {name: psutil.Process(s.proc.pid) for name, s in stack.items() if s.proc}

    def cpu() -> dict[str, float]:
        return {n: sum(p.cpu_times()[:2]) for n, p in processes.items()}

    before = cpu()
    data = asyncio.run(build({name: s.url for name, s in stack.items()}, auth_keys))
    after = cpu()
    TIMINGS["build_seconds"] = data.seconds
    TIMINGS["build_cpu_seconds"] = {n: round(after[n] - before[n], 1) for n in after}
    TIMINGS["load_average"] = [round(x, 1) for x in psutil.getloadavg()]
    print(f"national data set: {TIMINGS}")
    return data


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True, caret="initial")


def widths(page: Any, name: str) -> None:
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def words(page: Any, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def schedule_a_bulletin(page: Any, portal: str) -> None:
    """A bulletin for tomorrow at 8am (UK time) to London's leads not signed off: a date in
    the past is refused on the form, the check page says when and that the leads are worked
    out then, the list shows it scheduled with its rule, and cancelling it asks first."""
    today = datetime.now(LONDON).date()
    page.goto(f"{portal}/national/bulletins/new")
    page.fill("#subject", "Sign off by Friday")
    page.fill("#body", "Please sign off your return.")
    page.check("input[name='regions'][value='london']")
    page.check("input[name='kinds'][value='local-authority']")
    page.check("input[name='not_signed_off'][value='yes']")
    page.check("input[name='when'][value='later']")
    yesterday = today - timedelta(days=1)
    for part, value in zip(
        ("day", "month", "year", "time"),
        (yesterday.day, yesterday.month, yesterday.year, "8:00"),
        strict=True,
    ):
        page.fill(f"#send_at-{part}", str(value))
    widths(page, "10-bulletin-schedule-form")
    page.click("button:has-text('Continue')")
    summary = page.locator(".govuk-error-summary").inner_text()
    assert "The date and time to send it must be in the future" in summary, summary
    widths(page, "11-bulletin-schedule-error")
    tomorrow = today + timedelta(days=1)
    page.fill("#send_at-day", str(tomorrow.day))
    page.fill("#send_at-month", str(tomorrow.month))
    page.fill("#send_at-year", str(tomorrow.year))
    page.click("button:has-text('Continue')")
    when = f"{tomorrow.day} {tomorrow:%B %Y} at 8am"
    count = " ".join(page.locator("#recipient-count").inner_text().split())
    # Only the council registered from a file has a lead among London's councils.
    assert f"It will be emailed on {when} to the leads of organisations in London" in count, count
    assert f"{CYCLE} return is not signed off yet, as they are then." in count, count
    assert "1 mapping lead matches now" in count, count
    said = page.locator("#recipients-when-sent").inner_text()
    assert f"a lead whose {CYCLE} return is signed off by then is left out" in said, said
    shot(page, "12-bulletin-schedule-check-1280")
    page.click(f"button:has-text('Schedule it for {when}')")
    page.wait_for_url(re.compile(r"/national/bulletins\?done=scheduled"))
    row = page.locator("#bulletins tbody tr", has_text="Sign off by Friday")
    text = " ".join(row.inner_text().split())
    assert f"Scheduled for {when}" in text, text
    assert "The leads of organisations in London" in text and "not signed off" in text, text
    assert "Decided when it is sent" in text, text
    widths(page, "13-bulletins-scheduled")
    row.locator("a", has_text="Cancel").click()
    assert "Cancel “Sign off by Friday”?" in page.locator("h1").inner_text()
    shot(page, "14-bulletin-cancel-confirm-1280")
    page.click("button:has-text('Yes, cancel it')")
    page.wait_for_url(re.compile(r"/national/bulletins\?done=cancelled"))
    row = page.locator("#bulletins tbody tr", has_text="Sign off by Friday")
    assert "Cancelled" in row.inner_text()


def timed_goto(page: Any, url: str, name: str) -> None:
    """Open `url`, record how long the page took, and hold it to `PROMPT`."""
    started = time.monotonic()
    response = page.goto(url)
    seconds = time.monotonic() - started
    TIMINGS.setdefault("pages_seconds", {})[name] = round(seconds, 2)
    assert response is not None and response.status == 200, url
    assert seconds < PROMPT, f"{name} took {seconds:.1f} s"


@pytest.mark.timeout(900)  # five services and 5,000 organisations on a shared 2-core machine
def test_the_national_pages_at_scale(stack, national, infra, auth_keys) -> None:
    portal = stack["portal"].url
    admin = auth_keys.headers("national-admin")
    roster = national.roster
    total = len(roster)
    in_region = {r: sum(o.region == r for o in roster) for r in {o.region for o in roster}}
    councils = {
        r: sum(o.region == r and o.kind == "local-authority" for o in roster) for r in in_region
    }
    signed_off = len(national.signed_off) - len(national.reopened)
    admin_email = f"admin-{secrets.token_hex(3)}@dh.gov.uk"
    r = httpx.post(
        f"{stack['registration'].url}/accounts",
        headers=admin,
        json={"email": admin_email, "name": "Ada Admin", "role": "national-admin"},
        timeout=30,
    )
    assert r.status_code == 201, r.text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        violations: list[str] = []
        try:
            context = watch(browser.new_context(accept_downloads=True), violations)
            page = context.new_page()
            page.set_default_timeout(30_000)
            set_password(
                page,
                link_in(
                    mail_to(infra, admin_email, "Set up your"),
                    re.escape(portal) + "/account/set-up",
                ),
            )
            sign_in(page, portal, admin_email)
            page.wait_for_url(f"{portal}/national")

            # Participation: a page of 25 of 5,000, counts beside every filter (each filter
            # has members), GOV.UK pagination; promptly.
            participation = f"{portal}/national/cycles/{CYCLE}/participation"
            timed_goto(page, participation, "participation, first page")
            assert f"Showing 1 to 25 of {total:,} organisations" in words(page, "#showing")
            summary = words(page, "#participation-summary")
            assert f"{signed_off} of {total:,} organisations signed off" in summary, summary
            assert "Data entry closed" in summary, summary
            assert page.locator("#by-organisation tbody tr").count() == 25
            assert f"London ({in_region['london']:,})" in page.locator("#region").inner_text()
            offered = page.locator("#status").inner_text()
            for label in STATUS_LABELS:
                found = re.search(rf"{label} \(([\d,]+)\)", offered)
                assert found and int(found[1].replace(",", "")) > 0, (label, offered)
            assert f"Extended ({len(national.extended)})" in offered
            assert f"Signed off ({signed_off})" in offered
            assert page.locator("th[aria-sort='ascending']").inner_text().startswith("Organisation")
            widths(page, "01-participation")
            page.click(".govuk-pagination__next a")
            page.wait_for_url(re.compile(r"page=2"))
            assert f"Showing 26 to 50 of {total:,}" in words(page, "#showing")
            assert page.locator(".govuk-pagination__item--current").inner_text().strip() == "2"
            timed_goto(page, f"{participation}?page=200", "participation, last page")
            assert f"Showing 4,976 to 5,000 of {total:,}" in words(page, "#showing")

            # Sorting by a header: back to page one, descending on a second click.
            page.click("th[aria-sort] a:has-text('Organisation')")
            assert page.locator("th[aria-sort='descending']").count() == 1
            first = page.locator("#by-organisation tbody tr").first.inner_text()
            assert max((o.name for o in roster), key=str.lower) in first
            timed_goto(page, f"{participation}?sort=deadline&status=overdue", "overdue by deadline")
            timed_goto(page, f"{participation}?sort=last-activity&order=desc", "latest activity")
            latest = page.locator("#by-organisation tbody tr").first.inner_text().split()
            acted = national.signed_off + national.submitted + national.in_progress
            assert set(latest) & set(acted + national.extended), latest

            # Filters and search, as a GET form: the counts follow the other filters.
            page.goto(participation)
            page.select_option("#region", "london")
            page.fill("#q", "council")
            page.click("button:has-text('Apply filters')")
            page.wait_for_url(re.compile(r"region=london"))
            assert f"of {councils['london']} organisations" in words(page, "#showing")
            page.select_option("#region", "north-west")
            page.click("button:has-text('Apply filters')")
            page.wait_for_url(re.compile(r"region=north-west"))
            assert f"of {councils['north-west']} organisations" in words(page, "#showing")
            assert f"Not started: {councils['north-west']}" in words(page, "#status-counts")
            widths(page, "02-participation-filtered")

            # The CSV of the filtered list: every matching organisation, not one page.
            with page.expect_download() as download:
                page.click("a:has-text('(CSV)')")
            rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
            assert rows[0][:2] == ["Code", "Name"] and len(rows) == councils["north-west"] + 1
            assert all(r[1].startswith("Borough Council") for r in rows[1:])
            # ... and of all 5,000, overdue: every one not signed off and not extended.
            timed_goto(page, f"{participation}?status=overdue", "overdue")
            with page.expect_download() as download:
                page.click("a:has-text('(CSV)')")
            rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
            assert len(rows) - 1 == total - signed_off - len(national.extended)

            # The status filter's flags: the extended organisations, the reopened ones.
            page.goto(f"{participation}?status=extended")
            assert page.locator("#by-organisation tbody tr").count() == len(national.extended)
            listed = page.locator("#by-organisation").inner_text()
            assert all(code in listed for code in national.extended)
            page.goto(f"{participation}?status=reopened")
            listed = page.locator("#by-organisation").inner_text()
            assert all(code in listed for code in national.reopened)

            # Without JavaScript the same GET form filters and pages.
            plain = browser.new_context(java_script_enabled=False)
            plain.add_cookies(context.cookies())
            nojs = plain.new_page()
            nojs.goto(participation)
            nojs.select_option("#kind", "pct")
            nojs.click("button:has-text('Apply filters')")
            nojs.wait_for_url(re.compile(r"kind=pct"))
            pcts = sum(o.kind == "pct" for o in roster)
            assert f"of {pcts} organisations" in words(nojs, "#showing")
            nojs.click(".govuk-pagination__next a")
            nojs.wait_for_url(re.compile(r"page=2"))
            assert f"Showing 26 to 50 of {pcts}" in words(nojs, "#showing")

            # The reports' organisation picker without JavaScript: a search narrows 5,000.
            nojs.goto(f"{portal}/reports/return-progress?cycle={CYCLE}")
            assert f"of {total:,}" in words(nojs, "form.csm-picker-choose")
            nojs.fill("#find", "Primary Care Trust P12")
            nojs.click("button:has-text('Search')")
            nojs.select_option("#organisation", "P123")
            nojs.click("button:has-text('Show report')")
            nojs.wait_for_url(re.compile(r"organisation=P123"))
            assert "P123" in nojs.locator("main").inner_text()
            plain.close()

            # ... and with it, search as you type among 5,000.
            timed_goto(page, f"{portal}/reports/return-progress?cycle={CYCLE}", "report picker")
            page.locator("#find").press_sequentially("t004", delay=80)
            option = page.locator(".autocomplete__option", has_text="T0042")
            option.wait_for()
            widths(page, "03-report-picker")
            option.click()
            page.wait_for_url(re.compile(r"organisation=T0042"))
            assert "T0042" in page.locator("main").inner_text()

            # The organisations list: 50 a page by code over 5,000, filtered by region.
            timed_goto(page, f"{portal}/national/organisations", "organisations")
            assert words(page, "#showing") == f"{total:,} organisations."
            assert page.locator("#organisations tbody tr").count() == 50
            page.click(".govuk-pagination__next a")
            page.wait_for_url(re.compile(r"after="))
            assert page.locator("#organisations tbody tr").first.inner_text().startswith("L051")
            page.goto(f"{portal}/national/organisations?region=london")
            assert words(page, "#showing") == f"{in_region['london']:,} organisations in London."
            widths(page, "04-organisations")

            # The delivery log: the leads' emails, filtered by recipient.
            timed_goto(page, f"{portal}/national/notifications", "delivery log")
            assert page.locator("#notifications tbody tr").count() > 0
            lead = f"lead.{national.signed_off[-1].lower()}@example.org.uk"
            page.fill("#recipient", lead)
            page.click("button:has-text('Apply filters')")
            page.wait_for_url(re.compile(r"recipient="))
            sent = page.locator("#notifications tbody tr")
            assert sent.count() >= 1
            assert all(lead in row for row in sent.all_inner_texts())
            widths(page, "05-delivery-log")

            # Reopening a return asks first and says what will happen.
            code = national.signed_off[-1]
            page.goto(f"{portal}/national/cycles/{CYCLE}/returns/{code}/reopen")
            page.fill("#reason", "Wrong figures")
            page.click("button:has-text('Continue')")
            heading = page.locator("h1").inner_text()
            assert heading.startswith("Reopen") and heading.endswith("'s return?"), heading
            assert "is sent an email" in page.locator("#what-happens").inner_text()
            widths(page, "06-reopen-confirm")

            # The phase form offers only phases ahead (the cycle is closed), and confirms with
            # the numbers.
            page.goto(f"{portal}/national/cycles/{CYCLE}/phase")
            assert page.locator("input[value='data-entry']").count() == 0
            assert page.locator("input[value='closed']").count() == 0
            page.check("input[value='published']")
            page.fill("#reason", "Early publication")
            page.click("button:has-text('Continue')")
            assert "Move the cycle from closed to published?" in page.content()
            not_yet = total - signed_off
            assert f"All {total:,} ({signed_off} signed off, {not_yet:,} not yet)" in (
                page.content()
            )
            widths(page, "07-phase-confirm")
            page.click("a:has-text('Cancel')")

            # The organisations list pages by code both ways: next, previous, the first page.
            page.goto(f"{portal}/national/organisations")
            listed = page.locator("#organisations tbody tr")
            first_page = listed.all_inner_texts()
            assert len(first_page) == 50 and page.locator(".govuk-pagination__prev").count() == 0
            page.click(".govuk-pagination__next a")
            page.wait_for_url(re.compile(r"after="))
            assert len(listed.all_inner_texts()) == 50
            widths(page, "04-organisations-page-2")
            page.click(".govuk-pagination__prev a")
            page.wait_for_url(re.compile(r"before="))
            assert listed.all_inner_texts() == first_page
            assert page.locator(".govuk-pagination__prev").count() == 0

            # Accounts: add an auditor, then disable them after a confirmation.
            auditor = f"auditor-{secrets.token_hex(3)}@audit.example"
            page.goto(f"{portal}/national/accounts")
            page.click("a:has-text('Add an account')")
            page.click("button:has-text('Add account')")
            assert page.locator(".govuk-error-summary").is_visible()
            page.fill("#name", "Alan Auditor")
            page.fill("#email", auditor)
            page.check("input[value='auditor']")
            page.click("button:has-text('Add account')")
            page.wait_for_url(re.compile(r"/national/accounts\?done=added"))
            assert "Alan Auditor" in page.locator("#accounts").inner_text()
            widths(page, "08-accounts")
            mail_to(infra, auditor, "Set up your")
            page.click("#accounts tr:has-text('Alan Auditor') a:has-text('Disable')")
            assert "will not be able to sign in again" in page.content()
            widths(page, "09-account-disable")
            page.fill("#reason", "Audit finished")
            page.click("button:has-text('Disable account')")
            page.wait_for_url(re.compile(r"done=disabled"))
            row = page.locator("#accounts tr", has_text="Alan Auditor").inner_text()
            assert "Disabled" in row

            # Bulk registration: a bad file lists its lines and saves nothing; a good one,
            # confirmed, registers its organisations and emails each lead a set-up link.
            page.goto(f"{portal}/national/organisations/import")
            bad = ARTEFACTS / "bad.csv"
            bad.write_text(
                "code,name,kind,region,lead_name,lead_email\n"
                "B01X,Bulk One,castle,london,Ann,ann@bulk.example\n"
                "B02X,Bulk Two,pct,london,,not-an-email\n"
            )
            page.set_input_files("#file", str(bad))
            page.click("button:has-text('Check the file')")
            problems = page.locator("#problems").inner_text()
            assert "kind" in problems and "lead_email" in problems and "lead_name" in problems
            widths(page, "10-import-problems")
            lead = f"bulk-{secrets.token_hex(3)}@bulk.example"
            good = ARTEFACTS / "good.csv"
            # A council: no council in the data set has a lead, so the bulletin below reaches
            # exactly this one.
            good.write_text(
                "code,name,kind,region,lead_name,lead_email\n"
                f"B03X,Bulk Three Council,local-authority,london,Bea Lead,{lead}\n"
            )
            page.goto(f"{portal}/national/organisations/import")
            page.set_input_files("#file", str(good))
            page.click("button:has-text('Check the file')")
            assert "Register 1 organisation?" in page.content()
            widths(page, "11-import-preview")
            page.click("button:has-text('Register 1 organisation and email their leads')")
            assert "1 mapping lead emailed a set-up link" in page.content()
            mail_to(infra, lead, "Set up your")

            # Services from a file: every bad line is listed (line, column, reason) and nothing
            # is saved; a good file is checked, then confirmed, and a second confirmation of
            # the same file adds nothing twice.
            provider = next(o.code for o in roster if o.kind == "pct")
            page.goto(f"{portal}/national")
            page.click("a:has-text('Add services to the directory from a file')")
            page.wait_for_url(f"{portal}/services/import")
            header = (
                "cycle,provider_id,name,service_type,age_min,age_max,camhs,camhs_tier,"
                "contact_name,contact_email\n"
            )
            bad_services = ARTEFACTS / "bad-services.csv"
            bad_services.write_text(
                header + f"{CYCLE},{provider},Health visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},ZZ99,Portage,targeted,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Speech therapy,castle,2,11,no,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Youth club,universal,19,11,no,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Tier 3 CAMHS,specialist,0,18,yes,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Health Visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Huge,universal,0,{'9' * 400},no,,Ann,a@b.org\n"
            )
            page.set_input_files("#file", str(bad_services))
            page.click("button:has-text('Check the file')")
            problems = page.locator("#problems tbody tr").all_inner_texts()
            fields = [" ".join(p.split()[:2]) for p in problems]
            assert fields == [
                "3 provider_id",
                "4 service_type",
                "5 age_min",
                "6 camhs_tier",
                "7 name",
                "8 age_max",
            ], problems
            assert "nothing has been saved" in page.locator(".govuk-error-summary").inner_text()
            widths(page, "10-services-problems")
            good_services = ARTEFACTS / "good-services.csv"
            good_services.write_text(
                header + f"{CYCLE},{provider},Health visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{provider},Tier 3 CAMHS,specialist,0,18,yes,3,Ann,a@b.org\n"
            )
            page.goto(f"{portal}/services/import")
            page.set_input_files("#file", str(good_services))
            page.click("button:has-text('Check the file')")
            assert "Add 2 services?" in page.content()
            widths(page, "11-services-preview")
            page.click("button:has-text('Add 2 services')")
            assert "2 services added to the directory" in page.content()
            widths(page, "12-services-added")
            page.goto(f"{portal}/services/import")
            page.set_input_files("#file", str(good_services))
            page.click("button:has-text('Check the file')")
            assert "Nothing to add" in page.locator("h1").inner_text()
            assert "2 are in the directory already" in page.locator("#check-result").inner_text()
            found = httpx.get(
                f"{stack['registration'].url}/directory/services",
                params={"cycle": CYCLE, "q": "health visiting"},
                headers=admin,
                timeout=30,
            ).json()
            assert found["total"] == 1, found

            # A bulletin is checked before it goes: whom it reaches and the email itself.
            page.goto(f"{portal}/national/bulletins/new")
            page.fill("#subject", "The mapping opens")
            page.fill("#body", "Please check your services.\n\nThank you.")
            page.check("input[name='regions'][value='london']")
            page.check("input[name='kinds'][value='local-authority']")
            page.click("button:has-text('Continue')")
            count = words(page, "#recipient-count")
            assert "1 mapping lead: the leads of organisations in London" in count, count
            assert "Dear Bea Lead" in page.locator("#email-preview").inner_text()
            widths(page, "12-bulletin-check")
            page.click("button:has-text('Send it to 1 mapping lead')")
            page.wait_for_url(re.compile(r"/national/bulletins\?done=sent"))
            mail_to(infra, lead, "The mapping opens")
            schedule_a_bulletin(page, portal)
            assert violations == [], violations[:3]
        finally:
            browser.close()
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            (ARTEFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
            print(f"national pages: {TIMINGS}")
