"""A questionnaire people can finish, in Chromium against every real service (issue #18):
nothing typed is lost (the delegate's return saves the page first: the caseload changed from
140 to 150 reaches the lead as 150; leaving by a link with unsaved answers asks first), a long
questionnaire a section at a time with each section's progress, "check your answers" with its
change links and a green Submit, running totals of the workforce and investment rules as people
type (lead and delegate), a "no more than" rule (looked-after children within the caseload) as
the delegate types and, without JavaScript, on the lead's page, the rules' messages before a
delegate returns, the service record's answers pre-filled, print views, a delegate's page with
the lead's note and no "Sign in", and, the next year, last year's answers brought in at the
lead's choice (the history says so). Screenshots at 1280 and 375 px go to /tmp/shots-quest/
(or $CSM_SHOTS_DIR)."""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import test_portal_journey as journey
from page_audit import PageAudit
from playwright.sync_api import sync_playwright

stack = journey.stack  # the same real services, one set for this module
CYCLE = journey.CYCLE
SHOTS = Path(os.environ.get("CSM_SHOTS_DIR", "/tmp/shots-quest"))
GREEN = "rgb(15, 122, 82)"  # GOV.UK Frontend 6: the primary button (#0f7a52)
NEXT = "2010-11"


def shots(page: Any, name: str) -> None:
    """The page at a desktop's and a phone's width, whole."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True, caret="initial")
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def running(page: Any, rule: str) -> tuple[str, bool]:
    """A running total's words, and whether the rule's message shows."""
    box = page.locator(f"#running-{rule}")
    return box.inner_text(), box.locator("[data-message]").is_visible()


def _next_cycle(urls: dict[str, str], auth_keys: Any) -> None:
    """The national team schedules the next cycle, open since yesterday: registration carries
    the services forward into it, and their questionnaires are issued."""
    today = datetime.now(UTC)
    days = {
        "sandbox_opens": -30,
        "data_entry_opens": -1,
        "summary_reports": 60,
        "data_entry_closes": 100,
        "publication": 140,
    }
    r = httpx.post(
        f"{urls['questionnaire']}/cycles",
        headers=auth_keys.headers("national-admin"),
        json={
            "cycle": NEXT,
            "previous_cycle": CYCLE,
            "timetable": {k: (today + timedelta(days=d)).isoformat() for k, d in days.items()},
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text


def _set_up(page: Any, urls: dict[str, str], infra: Any, auth_keys: Any, people: tuple[str, ...]):
    """An organisation with its lead signed in, the cycle in data entry, and one service."""
    portal = urls["portal"]
    org, lead, helper = people
    admin = f"admin-{secrets.token_hex(3)}@dh.gov.uk"
    r = httpx.post(
        f"{urls['registration']}/accounts",
        headers=auth_keys.headers("national-admin"),
        json={"email": admin, "name": "Ada Admin", "role": "national-admin"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    setup = journey.mail_to(infra, admin, "Set up your")
    journey.set_password(page, journey.link_in(setup, re.escape(portal) + "/account/set-up"))
    journey.sign_in(page, portal, admin)
    page.wait_for_url(f"{portal}/national")
    page.goto(f"{portal}/national/organisations/new")
    page.fill("#code", org)
    page.fill("#name", f"{org} Primary Care Trust")
    page.select_option("#kind", "pct")
    page.select_option("#region", "london")
    page.fill("#lead_name", "Ann Lead")
    page.fill("#lead_email", lead)
    page.click("button:has-text('Register organisation')")
    page.wait_for_url(re.compile(rf"/national/organisations/{org}\?done=registered"))
    journey.schedule_cycle(page, portal)
    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/sign-in"))
    setup = journey.mail_to(infra, lead, "Set up your")
    journey.set_password(page, journey.link_in(setup, re.escape(portal) + "/account/set-up"))
    journey.sign_in(page, portal, lead)
    page.wait_for_url(re.compile(rf"/returns/{CYCLE}"))
    # A service for 0 to 18 year olds, not CAMHS, on its record.
    page.goto(f"{portal}/services/new")
    page.fill("#name", "Riverside Family Service")
    page.check("#service_type-3")
    page.fill("#age_min", "0")
    page.fill("#age_max", "18")
    page.check("#camhs-2")
    page.fill("#contact_name", "Sam Manager")
    page.fill("#contact_email", helper)
    page.click("button:has-text('Add service')")
    page.wait_for_url(re.compile(r"/services\?done=added"))


def test_questionnaires_people_can_finish(stack, infra, auth_keys) -> None:
    portal = stack["portal"].url
    org = "Q" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
    lead = f"lead-{secrets.token_hex(3)}@pct.nhs.uk"
    helper = f"manager-{secrets.token_hex(3)}@pct.nhs.uk"

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=journey.CHROMIUM, headless=True, args=journey.CHROMIUM_ARGS
        )
        violations: list[str] = []
        try:
            page = journey.watch(browser.new_context(), violations).new_page()
            page.set_default_timeout(20_000)
            urls = {name: s.url for name, s in stack.items()}
            _set_up(page, urls, infra, auth_keys, (org, lead, helper))

            # The long questionnaire opens on its sections, each with its progress.
            journey.reload_until(page, f"{portal}/returns/{CYCLE}", "Riverside Family Service")
            page.click("a:has-text('Service: Riverside Family Service')")
            page.wait_for_url(re.compile(r"/questionnaires/[^/]+$"))
            url = page.url
            tasks = page.locator(".govuk-task-list")
            tasks.locator("li").first.wait_for()
            assert tasks.locator("li").count() == 8
            assert "0 of 5 answered" in tasks.inner_text()
            shots(page, "01-sections")

            # The service record's answers are filled in (not saved until the lead saves).
            page.click("a:has-text('Client group')")
            assert page.locator("#prefilled").is_visible()
            ages = ["age_0_4", "age_5_10", "age_11_15", "age_16_17", "age_18_19"]
            for value in ages:
                assert page.locator(f"input[name='q.age_bands'][value='{value}']").is_checked()
            assert not page.locator("input[name='q.age_bands'][value='antenatal']").is_checked()
            page.fill("#q-caseload_total", "140")
            shots(page, "02-prefilled-section")
            page.click("button:has-text('Save and continue')")
            page.wait_for_url(re.compile(r"/sections/need$"))
            page.goto(f"{url}/sections/mental_health")
            assert page.locator("#q-camhs-2").is_checked()  # No, from the record
            page.goto(url)
            assert "2 of 3 answered" in tasks.inner_text()  # ages and caseload saved

            # Running totals as the lead types: the rule's message while they do not add up.
            page.goto(f"{url}/sections/workforce")
            page.fill("#q-wte_nursing", "2.5")
            page.fill("#q-wte_medical", "1")
            page.fill("#q-wte_total", "3")
            words, warned = running(page, "workforce_adds_up")
            assert "add up to 3.5" in words and "the total is 3" in words and warned
            shots(page, "03-running-total-not-met")
            page.fill("#q-wte_total", "3.5")
            words, warned = running(page, "workforce_adds_up")
            assert "the total is 3.5" in words and not warned
            # Leaving by a link with answers not saved asks first.
            asked: list[str] = []
            page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
            page.click("a:has-text('Back to all sections')")
            assert asked == ["beforeunload"] and page.url.endswith("/sections/workforce")
            page.click("button:has-text('Save and come back later')")
            page.wait_for_url(re.compile(r"\?done=saved"))

            # Buttons say what they do; the lead hands it on (what is on the page saved first).
            page.goto(f"{url}/check")
            submit = page.locator("button:has-text('Submit questionnaire')")
            assert submit.evaluate("b => getComputedStyle(b).backgroundColor") == GREEN
            assert page.locator(".govuk-button--warning").count() == 0
            page.goto(url)
            page.click("button:has-text('ask someone else')")
            page.fill("#email", helper)
            page.fill("#message", "Please add the money and check the caseload")
            page.click("button:has-text('Send link')")
            page.wait_for_url(re.compile(r"/delegate\?done=sent"))

            # The delegate's page: the lead's note, no "Sign in", the same running totals.
            link = journey.link_in(
                journey.mail_to(infra, helper, "Please complete"), re.escape(portal) + "/delegate/"
            )
            other = journey.watch(browser.new_context(), violations)
            d = other.new_page()
            d.set_default_timeout(20_000)
            d.goto(link)
            assert "Please add the money" in d.locator("#lead-note").inner_text()
            assert d.locator("a:has-text('Sign in')").count() == 0
            assert d.locator(".govuk-service-navigation a:has-text('Sandbox')").count() == 0
            shots(d, "04-delegate-overview")
            d.goto(f"{link}/sections/investment")
            d.fill("#q-investment_nhs", "500000")
            d.fill("#q-investment_la_childrens", "260000")
            d.fill("#q-investment_total", "700000")
            words, warned = running(d, "investment_adds_up")
            assert "add up to 760,000" in words and warned
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"/sections/integration$"))

            # Changed but not saved, then "return": saved first (the lead sees 150, not 140).
            d.goto(f"{link}/sections/client_group")
            assert d.input_value("#q-caseload_total") == "140"
            d.fill("#q-caseload_total", "150")
            # A "no more than" rule shows as people type too: the whole it is held to (the
            # caseload as typed just now) and its message while the part is over it.
            d.check("input[name='q.client_groups'][value='looked_after']")
            d.wait_for_selector("#q-caseload_looked_after")
            assert d.input_value("#q-caseload_total") == "150"  # kept through the re-render
            d.fill("#q-caseload_looked_after", "160")
            words, warned = running(d, "looked_after_not_above_caseload")
            assert "No more than your answer to" in words and "150" in words and warned
            shots(d, "04b-delegate-limit-not-met")
            d.fill("#q-caseload_total", "170")  # the whole follows what is typed
            words, warned = running(d, "looked_after_not_above_caseload")
            assert "170" in words and not warned
            d.fill("#q-caseload_total", "150")
            d.fill("#q-caseload_looked_after", "12")
            assert not running(d, "looked_after_not_above_caseload")[1]
            d.click("button:has-text('Save and return to the mapping lead')")
            d.wait_for_url(re.compile(r"/check$"))
            answers = d.locator("#answers-client_group").inner_text()
            assert "150" in answers
            # The rule not met is said before returning, linked to its question.
            warning = d.locator("#rule-warnings")
            assert "must add up to the total investment" in warning.inner_text()
            assert warning.locator("a[href$='/sections/investment#q-investment_total']").count()
            d.fill("#return-comment", "Caseload corrected; the money needs a look")
            shots(d, "05-delegate-check-answers")
            d.click("button:has-text('Return to the mapping lead')")
            assert "Questionnaire returned" in d.content()
            # The delegate, with no account, reads the organisation's name, not its code.
            said = " ".join(d.locator("main").inner_text().split())
            assert f"to the mapping lead of {org} Primary Care Trust." in said, said
            other.close()

            page.goto(f"{url}/sections/client_group")
            assert page.input_value("#q-caseload_total") == "150"
            page.goto(url)
            assert "Caseload corrected" in page.locator("#returned").inner_text()
            page.click("button:has-text('Accept their answers')")
            page.wait_for_url(re.compile(r"done=accepted"))
            # Without JavaScript the page says the same when it is built: over, then within.
            nojs = browser.new_context(java_script_enabled=False)
            nojs.add_cookies(page.context.cookies())
            plain = nojs.new_page()
            plain.goto(f"{url}/sections/client_group")
            plain.fill("#q-caseload_looked_after", "151")
            plain.click("button:has-text('Save and come back later')")
            plain.goto(f"{url}/sections/client_group")
            words, warned = running(plain, "looked_after_not_above_caseload")
            assert "150" in words and warned
            shots(plain, "05b-lead-limit-without-javascript")
            plain.fill("#q-caseload_looked_after", "12")
            plain.click("button:has-text('Save and come back later')")
            nojs.close()

            # Check your answers: each answer as people read it, a change link to its page.
            page.goto(f"{url}/check")
            money = page.locator("#answers-investment").inner_text()
            assert "£500,000" in money and "£700,000" in money
            change = page.locator("#answers-client_group a:has-text('Change')").first
            assert re.search(r"/sections/client_group#q-\w+$", change.get_attribute("href"))
            shots(page, "06-check-answers")

            # Print views: one questionnaire, the whole return; the print layout drops the
            # header and buttons.
            page.goto(f"{url}/print")
            assert "Riverside Family Service" in page.locator("h1").inner_text()
            page.emulate_media(media="print")
            assert not page.locator(".govuk-header").is_visible()
            page.emulate_media(media="screen")
            shots(page, "07-print-one")
            page.goto(f"{portal}/returns/{CYCLE}")
            page.click("#print-return")
            printed = page.locator(".csm-print-questionnaire")
            assert printed.count() >= 2  # the service's and the self-assessment
            assert "Commissioning self-assessment" in page.content()

            # The next year: the service is carried forward, and its questionnaire offers last
            # year's answers; the lead sees what would come in and chooses.
            _next_cycle(urls, auth_keys)
            journey.reload_until(page, f"{portal}/returns/{NEXT}", "Riverside Family Service")
            page.click("a:has-text('Service: Riverside Family Service')")
            next_url = page.url
            # One answer given this year before: last year's would replace it only if ticked.
            lead_headers = auth_keys.headers("mapping-lead", org=org)
            api = f"{urls['questionnaire']}/questionnaires/{next_url.rsplit('/', 1)[1]}"
            version = httpx.get(api, headers=lead_headers, timeout=30).json()["version"]
            r = httpx.patch(
                f"{api}/answers",
                headers=lead_headers,
                json={"version": version, "answers": {"caseload_total": 160}},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            page.reload()
            offer = page.locator("#last-year").inner_text()
            assert "carried forward from 2009-10" in offer and "answers from its 2009-10" in offer
            audit = PageAudit(SHOTS)
            audit.check(page, "08-last-year-offered")
            page.click("#last-year-link")
            assert "0\N{EN DASH}4 years" in page.locator("#unanswered").inner_text()
            assert "£500,000" in page.locator("#unanswered").inner_text()
            replacing = page.locator("#replacing").inner_text()
            assert "160" in replacing and "150" in replacing
            assert not page.locator("#replace").is_checked()
            audit.check(page, "09-last-year-choice")
            page.click("#bring-in")
            page.wait_for_url(re.compile(r"done=brought-in"))
            banner = page.locator("#brought-in").inner_text()
            assert re.search(r"\d+ answers brought in from 2009-10", banner), banner
            # What is left is replacing the answer given this year, if the lead wants to.
            assert "replace 1 of your answers" in page.locator("#last-year").inner_text()
            page.goto(f"{next_url}/sections/client_group")
            assert page.input_value("#q-caseload_total") == "160"  # kept: not ticked
            page.goto(f"{next_url}/history")
            history = page.locator("#history").inner_text()
            assert "Answers brought in from last year (2009-10)" in history
            assert "0\N{EN DASH}4 years" in history
            audit.check(page, "10-history-from-last-year")
            assert audit.problems() == [], audit.problems()

            assert violations == [], f"{len(violations)} CSP violations: {violations[:3]}"
        finally:
            browser.close()
