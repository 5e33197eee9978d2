"""The national team's pages at more than a page of organisations, in a real browser against
every service as its own process: 60 organisations registered through registration's API and
issued their questionnaires by a scheduled cycle; the participation page pages, sorts, filters
(with counts), searches and downloads its filtered list as CSV, with and without JavaScript;
the organisations list goes forward a page and back; the accounts page adds an auditor and
disables them after a confirmation; organisations and services are registered from files
(every bad line listed first); the phase form offers only phases ahead and confirms; reopening
a return confirms and says what happens; a bulletin is checked, sent, and another scheduled for
tomorrow (a past date refused) and cancelled after a confirmation.

Screenshots at 1280 and 375 px go to var/test-artefacts/national/."""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
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
CYCLE = "2011-12"
REGIONS = ("london", "north-west", "south-west")
#: Kinds that are issued questionnaires without any service registered (an LA its CAMHS and
#: children's trust questionnaires, a PCT its self-assessment), so every one owes a return.
KINDS = ("pct", "local-authority", "pct")
ORGANISATIONS = 60
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    with portal_stack(
        infra, auth_keys, tmp_path_factory.mktemp("e2e-national"), "national"
    ) as running:
        yield running


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True, caret="initial")


def widths(page: Any, name: str) -> None:
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def registered(stack: dict[str, ServiceProcess], admin: dict[str, str]) -> list[str]:
    """60 organisations through registration's API, then a cycle whose data entry is open."""
    codes = []
    with httpx.Client(base_url=stack["registration"].url, headers=admin, timeout=30) as c:
        for i in range(ORGANISATIONS):
            code = f"N{i:02d}" + secrets.choice("ABCDEFGHJK")
            name = f"Northby Council {i:02d}" if i % 3 == 1 else f"Organisation {i:02d}"
            r = c.post(
                "/organisations",
                json={"code": code, "name": name, "kind": KINDS[i % 3], "region": REGIONS[i % 3]},
            )
            assert r.status_code == 201, r.text
            codes.append(code)
    now = datetime.now(UTC)
    days = {
        "sandbox_opens": -30,
        "data_entry_opens": -1,
        "summary_reports": 60,
        "data_entry_closes": 100,
        "publication": 140,
    }
    timetable = {k: (now + timedelta(days=d)).isoformat() for k, d in days.items()}
    with httpx.Client(base_url=stack["questionnaire"].url, headers=admin, timeout=30) as c:
        r = c.post("/cycles", json={"cycle": CYCLE, "timetable": timetable})
        assert r.status_code == 201, r.text
    return codes


def schedule_a_bulletin(page: Any, portal: str) -> None:
    """A bulletin for tomorrow at 8am (UK time) to London's leads not signed off: a date in
    the past is refused on the form, the check page says when and that the leads are worked
    out then, the list shows it scheduled with its rule, and cancelling it asks first."""
    today = datetime.now(LONDON).date()
    page.goto(f"{portal}/national/bulletins/new")
    page.fill("#subject", "Sign off by Friday")
    page.fill("#body", "Please sign off your return.")
    page.check("input[name='regions'][value='london']")
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
    assert (
        f"It will be emailed on {when} to the leads of organisations in London and whose "
        f"{CYCLE} return is not signed off yet, as they are then. 1 mapping lead matches now"
    ) in count, count
    said = page.locator("#recipients-when-sent").inner_text()
    assert f"a lead whose {CYCLE} return is signed off by then is left out" in said, said
    shot(page, "12-bulletin-schedule-check-1280")
    page.click(f"button:has-text('Schedule it for {when}')")
    page.wait_for_url(re.compile(r"/national/bulletins\?done=scheduled"))
    row = page.locator("#bulletins tbody tr", has_text="Sign off by Friday")
    text = " ".join(row.inner_text().split())
    assert f"Scheduled for {when}" in text, text
    assert f"The leads of organisations in London and whose {CYCLE} return is not" in text, text
    assert "Decided when it is sent" in text, text
    widths(page, "13-bulletins-scheduled")
    row.locator("a", has_text="Cancel").click()
    assert "Cancel “Sign off by Friday”?" in page.locator("h1").inner_text()
    shot(page, "14-bulletin-cancel-confirm-1280")
    page.click("button:has-text('Yes, cancel it')")
    page.wait_for_url(re.compile(r"/national/bulletins\?done=cancelled"))
    row = page.locator("#bulletins tbody tr", has_text="Sign off by Friday")
    assert "Cancelled" in row.inner_text()


def wait_for(url: str, headers: dict[str, str], check: Any, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, headers=headers, timeout=30)
        if r.status_code == 200 and check(r.json()):
            return r.json()
        assert time.monotonic() < deadline, f"{url}: {r.status_code} {r.text[:300]}"
        time.sleep(0.5)


@pytest.mark.timeout(900)  # five services and 60 organisations on a shared 2-core machine
def test_the_national_pages_at_scale(stack, infra, auth_keys) -> None:
    portal = stack["portal"].url
    admin = auth_keys.headers("national-admin")
    codes = registered(stack, admin)
    # Every organisation has been issued its questionnaires and reporting has projected them.
    wait_for(
        f"{stack['reporting'].url}/cycles/{CYCLE}/participation",
        admin,
        lambda body: body["total"] == ORGANISATIONS,
    )
    extended = codes[4]
    until = (datetime.now(UTC) + timedelta(days=120)).isoformat()
    r = httpx.post(
        f"{stack['questionnaire'].url}/cycles/{CYCLE}/returns/{extended}/extension",
        headers=admin,
        json={"until": until, "reason": "Flooded offices"},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text
    wait_for(
        f"{stack['reporting'].url}/cycles/{CYCLE}/participation?status=extended",
        admin,
        lambda body: body["total"] == 1,
    )
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
            page.set_default_timeout(20_000)
            set_password(
                page,
                link_in(
                    mail_to(infra, admin_email, "Set up your"),
                    re.escape(portal) + "/account/set-up",
                ),
            )
            sign_in(page, portal, admin_email)
            page.wait_for_url(f"{portal}/national")

            # Participation: a page of 25, counts beside every filter, GOV.UK pagination.
            participation = f"{portal}/national/cycles/{CYCLE}/participation"
            page.goto(participation)
            showing = page.locator("#showing").inner_text()
            assert "Showing 1 to 25 of 60 organisations" in " ".join(showing.split())
            assert page.locator("#by-organisation tbody tr").count() == 25
            assert "London (20)" in page.locator("#region").inner_text()
            assert "Extended (1)" in page.locator("#status").inner_text()
            assert page.locator("th[aria-sort='ascending']").inner_text().startswith("Organisation")
            widths(page, "01-participation")
            page.click(".govuk-pagination__next a")
            page.wait_for_url(re.compile(r"page=2"))
            assert "Showing 26 to 50 of 60" in " ".join(
                page.locator("#showing").inner_text().split()
            )
            assert page.locator(".govuk-pagination__item--current").inner_text().strip() == "2"

            # Sorting by a header: back to page one, descending on a second click.
            page.click("th[aria-sort] a:has-text('Organisation')")
            assert page.locator("th[aria-sort='descending']").count() == 1
            first = page.locator("#by-organisation tbody tr").first.inner_text()
            assert "Organisation 59" in first

            # Filters and search, as a GET form: the counts follow the other filters.
            page.goto(participation)
            page.select_option("#region", "london")
            page.fill("#q", "northby")
            page.click("button:has-text('Apply filters')")
            page.wait_for_url(re.compile(r"region=london"))
            text = " ".join(page.locator("#showing").inner_text().split())
            # Northby councils are every third from 1: none of them is in London (i % 3 == 0).
            assert text == "No organisations match.", text
            page.select_option("#region", "north-west")
            page.click("button:has-text('Apply filters')")
            page.wait_for_url(re.compile(r"region=north-west"))
            assert "of 20 organisations" in " ".join(page.locator("#showing").inner_text().split())
            assert "Not started: 20" in page.locator("#status-counts").inner_text()
            widths(page, "02-participation-filtered")

            # The CSV of the filtered list: every matching organisation, not one page.
            with page.expect_download() as download:
                page.click("a:has-text('(CSV)')")
            rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
            assert rows[0][:2] == ["Code", "Name"] and len(rows) == 21
            assert all(r[1].startswith("Northby Council") for r in rows[1:])

            # The status filter's flag: the one extended organisation.
            page.goto(f"{participation}?status=extended")
            assert page.locator("#by-organisation tbody tr").count() == 1
            assert extended in page.locator("#by-organisation").inner_text()

            # Without JavaScript the same GET form filters and pages.
            plain = browser.new_context(java_script_enabled=False)
            plain.add_cookies(context.cookies())
            nojs = plain.new_page()
            nojs.goto(participation)
            nojs.select_option("#kind", "pct")
            nojs.click("button:has-text('Apply filters')")
            nojs.wait_for_url(re.compile(r"kind=pct"))
            assert "of 40 organisations" in " ".join(nojs.locator("#showing").inner_text().split())
            plain.close()

            # Reopening a return asks first and says what will happen.
            page.goto(f"{portal}/national/cycles/{CYCLE}/returns/{codes[0]}/reopen")
            page.fill("#reason", "Wrong figures")
            page.click("button:has-text('Continue')")
            assert f"Reopen {codes[0]}'s return?" in page.content()
            assert "is sent an email" in page.locator("#what-happens").inner_text()
            widths(page, "03-reopen-confirm")

            # The phase form offers only phases ahead, and confirms with the numbers.
            page.goto(f"{portal}/national/cycles/{CYCLE}/phase")
            assert page.locator("input[value='sandbox']").count() == 0
            page.check("input[value='closed']")
            page.fill("#reason", "Early close")
            page.click("button:has-text('Continue')")
            assert "Move the cycle from data entry to closed?" in page.content()
            assert "All 60 (0 signed off, 60 not yet)" in page.content()
            widths(page, "04-phase-confirm")
            page.click("a:has-text('Cancel')")

            # The organisations list pages by code both ways: next, previous, the first page.
            page.goto(f"{portal}/national/organisations")
            listed = page.locator("a[href^='/national/organisations/N']")
            first_page = listed.all_inner_texts()
            assert len(first_page) == 50 and page.locator(".govuk-pagination__prev").count() == 0
            page.click(".govuk-pagination__next a")
            page.wait_for_url(re.compile(r"after="))
            assert len(listed.all_inner_texts()) == ORGANISATIONS - 50
            assert page.locator(".govuk-pagination__next").count() == 0
            widths(page, "05-organisations-page-2")
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
            widths(page, "05-accounts")
            mail_to(infra, auditor, "Set up your")
            page.click("#accounts tr:has-text('Alan Auditor') a:has-text('Disable')")
            assert "will not be able to sign in again" in page.content()
            widths(page, "06-account-disable")
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
            widths(page, "07-import-problems")
            lead = f"bulk-{secrets.token_hex(3)}@bulk.example"
            good = ARTEFACTS / "good.csv"
            good.write_text(
                "code,name,kind,region,lead_name,lead_email\n"
                f"B03X,Bulk Three PCT,pct,london,Bea Lead,{lead}\n"
            )
            page.goto(f"{portal}/national/organisations/import")
            page.set_input_files("#file", str(good))
            page.click("button:has-text('Check the file')")
            assert "Register 1 organisation?" in page.content()
            widths(page, "08-import-preview")
            page.click("button:has-text('Register 1 organisation and email their leads')")
            assert "1 mapping lead emailed a set-up link" in page.content()
            mail_to(infra, lead, "Set up your")

            # Services from a file: every bad line is listed (line, column, reason) and nothing
            # is saved; a good file is checked, then confirmed, and a second confirmation of
            # the same file adds nothing twice.
            page.goto(f"{portal}/national")
            page.click("a:has-text('Add services to the directory from a file')")
            page.wait_for_url(f"{portal}/services/import")
            header = (
                "cycle,provider_id,name,service_type,age_min,age_max,camhs,camhs_tier,"
                "contact_name,contact_email\n"
            )
            bad_services = ARTEFACTS / "bad-services.csv"
            bad_services.write_text(
                header + f"{CYCLE},{codes[0]},Health visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},ZZ99,Portage,targeted,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Speech therapy,castle,2,11,no,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Youth club,universal,19,11,no,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Tier 3 CAMHS,specialist,0,18,yes,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Health Visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Huge,universal,0,{'9' * 400},no,,Ann,a@b.org\n"
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
                header + f"{CYCLE},{codes[0]},Health visiting,universal,0,5,no,,Ann,a@b.org\n"
                f"{CYCLE},{codes[0]},Tier 3 CAMHS,specialist,0,18,yes,3,Ann,a@b.org\n"
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
            page.click("button:has-text('Continue')")
            count = " ".join(page.locator("#recipient-count").inner_text().split())
            assert "1 mapping lead: the leads of organisations in London" in count, count
            assert "Dear Bea Lead" in page.locator("#email-preview").inner_text()
            widths(page, "09-bulletin-check")
            page.click("button:has-text('Send it to 1 mapping lead')")
            page.wait_for_url(re.compile(r"/national/bulletins\?done=sent"))
            mail_to(infra, lead, "The mapping opens")
            schedule_a_bulletin(page, portal)
            assert violations == [], violations[:3]
        finally:
            browser.close()
