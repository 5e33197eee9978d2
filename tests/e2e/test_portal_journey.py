"""The whole cycle through the portal in a real browser (Playwright driving Debian's Chromium),
every service its own process on the real broker, database and SMTP sink: the national admin
sets a password from the emailed link, registers an organisation with its lead and schedules
the cycle on its page; the lead sets a password from the email, signs in, adds a service,
answers its questionnaire a section at a time (a follow-up appears as the answers change, with
and without JavaScript), delegates it; the delegate completes it from the emailed link; the
lead accepts and submits from "check your answers", answers the self-assessment, signs off,
the confirmation email arrives and a report shows the data; the national team sees
participation, grants the organisation an extension and reads the local mailbox (which the lead
cannot).
Every page runs under the portal's strict Content-Security-Policy: the journey fails on any
violation the browser reports, and a form post without its CSRF token is refused.
Every kind of page is checked as it is met (page_audit.py): screenshots at 1280 and 375 px
wide (to var/test-artefacts/portal/, or CSM_SHOTS_DIR), no page wider than the window at
either width, and axe-core finds no critical or serious violation and nothing outside a
landmark."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from page_audit import PageAudit, shots_dir
from playwright.sync_api import sync_playwright

from service_processes import ServiceProcess, portal_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
ARTEFACTS = shots_dir(Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "portal")
#: Every page the journey shows: screenshots at both widths, widths measured, axe run.
AUDIT = PageAudit(ARTEFACTS)
CYCLE = "2009-10"
#: Holds back every follow-up preview request for 0.8 s before it is sent (htmx posts them
#: with XMLHttpRequest), so typing lands while a re-render is on its way.
SLOW_PREVIEWS = """
(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.csmUrl = String(url);
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (this.csmUrl.endsWith("/preview")) setTimeout(() => send.call(this, body), 800);
    else send.call(this, body);
  };
})();
"""


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    with portal_stack(
        infra,
        auth_keys,
        tmp_path_factory.mktemp("e2e-portal"),
        "portal",
        CSM_MAILBOX_DIR=str(infra.mail_dir),
        CSM_MAILBOX_ENABLED="true",
    ) as running:
        yield running


#: Reports each Content-Security-Policy violation on the console, where `watch` collects it
#: (Chromium also logs its own "... violates the following Content Security Policy directive"
#: line, which `watch` collects as well).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const on = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 200) : "document";
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`
    + ` at ${e.sourceFile}:${e.lineNumber} on ${on}`);
});
"""


def watch(context: Any, violations: list[str]) -> Any:
    """A browser context whose pages report every CSP violation into `violations`."""
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def seen(message: Any) -> None:
        if "CSP violation" in message.text or "Content Security Policy" in message.text:
            violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.on("console", seen)
    return context


def widths(page: Any, name: str) -> None:
    """The page at a desktop's and a phone's width (it must look styled at both)."""
    shot(page, name)


def mail_to(infra: Any, to: str, subject_part: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in infra.mailbox():
            if m["to"] == to and subject_part in m["subject"]:
                return m
        time.sleep(0.2)
    raise AssertionError(f"no '{subject_part}' email to {to}")


def link_in(message: dict[str, Any], pattern: str) -> str:
    found = re.search(pattern + r"\S*", message["body"])
    assert found, message["body"]
    return found.group(0)


def shot(page: Any, name: str, *, axe: bool = True) -> None:
    """Screenshots at 1280 and 375 px, the page's width at each and axe's findings."""
    AUDIT.check(page, name, axe=axe)


def tour(page: Any, base: str, pages: dict[str, str]) -> None:
    """Open and check each page (name -> path): the kinds the journey's steps pass by."""
    for name, path in pages.items():
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status < 500, f"{path}: {response}"
        shot(page, name)


def reload_until(page: Any, url: str, text: str, timeout: float = 60) -> None:
    """Open `url` until it shows `text` (events reach the other services asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if text in page.content():
            return
        assert time.monotonic() < deadline, f"{url} never showed {text!r}"
        time.sleep(0.5)


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")


def set_password(page: Any, link: str) -> None:
    page.goto(link)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button:has-text('Create password')")
    page.wait_for_url(re.compile(r"/sign-in\?done=password-set"))


def fill_when(page: Any, name: str, at: datetime) -> None:
    """A GOV.UK date input (day, month, year) and its time box."""
    for part, value in (("day", at.day), ("month", at.month), ("year", at.year)):
        page.fill(f"#{name}-{part}", str(value))
    page.fill(f"#{name}-time", f"{at:%H:%M}")


def schedule_cycle(page: Any, portal: str) -> None:
    """The national team schedules the cycle on its page, data entry open since yesterday."""
    today = datetime.now(UTC)
    page.goto(f"{portal}/national/cycles/new")
    page.fill("#cycle", CYCLE)
    fill_when(page, "sandbox_opens", today - timedelta(days=30))
    fill_when(page, "data_entry_opens", today - timedelta(days=1))
    fill_when(page, "summary_reports", today + timedelta(days=60))
    fill_when(page, "data_entry_closes", today + timedelta(days=100))
    fill_when(page, "publication", today + timedelta(days=140))
    page.click("button:has-text('Schedule cycle')")
    page.wait_for_url(re.compile(rf"/national/cycles/{CYCLE}\?done=scheduled"))


# Each of some sixty pages is photographed and run through axe at two widths.
@pytest.mark.timeout(1200)
def test_the_cycle_in_a_browser(stack, infra, auth_keys) -> None:
    portal = stack["portal"].url
    org = "P" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
    admin_email = f"admin-{secrets.token_hex(3)}@dh.gov.uk"
    lead_email = f"lead-{secrets.token_hex(3)}@pct.nhs.uk"
    delegate_email = f"manager-{secrets.token_hex(3)}@pct.nhs.uk"

    # A national admin account (made by another admin through registration's API; its
    # set-up link arrives by mail like anyone's).
    r = httpx.post(
        f"{stack['registration'].url}/accounts",
        headers=auth_keys.headers("national-admin"),
        json={"email": admin_email, "name": "Ada Admin", "role": "national-admin"},
        timeout=30,
    )
    assert r.status_code == 201, r.text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        violations: list[str] = []
        try:
            page = watch(browser.new_context(), violations).new_page()
            page.set_default_timeout(20_000)

            # The pages come with a strict policy, yet look styled and run their scripts.
            signing_in = page.goto(f"{portal}/sign-in")
            assert signing_in is not None
            policy = signing_in.headers["content-security-policy"]
            assert "script-src 'self' 'nonce-" in policy and "unsafe" not in policy
            assert signing_in.headers["cache-control"] == "no-store"
            assert "govuk-frontend-supported" in page.get_attribute("body", "class")  # nonce
            assert page.locator("[data-govuk-skip-link-init]").count() == 1  # init.js ran
            widths(page, "00-sign-in")
            # The way in offers no link to itself.
            assert page.locator(".csm-account-bar a").count() == 0

            # The admin sets a password from the emailed link and signs in.
            setup = mail_to(infra, admin_email, "Set up your")
            set_password(page, link_in(setup, re.escape(portal) + "/account/set-up"))
            shot(page, "01-password-set")
            sign_in(page, portal, admin_email)
            page.wait_for_url(f"{portal}/national")

            # Registering with nothing filled in: the error summary names every field.
            page.goto(f"{portal}/national/organisations/new")
            widths(page, "01b-register-form")
            page.click("button:has-text('Register organisation')")
            summary = page.locator(".govuk-error-summary")
            assert summary.is_visible()
            assert "Enter the organisation code" in summary.inner_text()
            assert page.locator("#code-error").is_visible()
            shot(page, "02-register-errors")
            # A code the registration service refuses (its 422 mapped to the field).
            page.fill("#code", "bad code!")
            page.fill("#name", f"{org} Primary Care Trust")
            page.select_option("#kind", "pct")
            page.select_option("#region", "london")
            page.fill("#lead_name", "Ann Lead")
            page.fill("#lead_email", lead_email)
            page.click("button:has-text('Register organisation')")
            assert page.locator("#code-error").is_visible()
            page.fill("#code", org)
            page.click("button:has-text('Register organisation')")
            page.wait_for_url(re.compile(rf"/national/organisations/{org}\?done=registered"))
            assert "Organisation registered" in page.content()
            shot(page, "03-organisation-registered")

            # The national team opens the cycle on its page.
            schedule_cycle(page, portal)
            shot(page, "03b-cycle-scheduled")
            page.click("button:has-text('Sign out')")
            page.wait_for_url(re.compile(r"/sign-in"))

            # The lead sets a password from the email and signs in to the dashboard.
            setup = mail_to(infra, lead_email, "Set up your")
            set_password(page, link_in(setup, re.escape(portal) + "/account/set-up"))
            sign_in(page, portal, lead_email)
            page.wait_for_url(re.compile(rf"/returns/{CYCLE}"))
            reload_until(page, f"{portal}/returns/{CYCLE}", "Commissioning self-assessment")
            assert "Data entry" in page.locator("#phase").inner_text()
            # Who is signed in, by name, for their organisation by its name (not its code).
            bar = page.locator(".csm-account-bar").inner_text()
            assert f"Ann Lead ({lead_email}) for {org} Primary Care Trust" in bar, bar
            shot(page, "04-dashboard")

            # Adds a service: a missing field first, then the whole form.
            page.goto(f"{portal}/services/new")
            page.check("#camhs")  # a CAMHS: its tier is asked next
            shot(page, "04b-service-form")
            page.click("button:has-text('Add service')")
            assert "Enter the service's name" in page.locator(".govuk-error-summary").inner_text()
            page.fill("#name", "Riverside CAMHS")
            page.check("#service_type-3")
            page.fill("#age_min", "0")
            page.fill("#age_max", "18")
            page.check("#camhs-2")
            page.fill("#contact_name", "Sam Manager")
            page.fill("#contact_email", delegate_email)
            page.click("button:has-text('Add service')")
            page.wait_for_url(re.compile(r"/services\?done=added"))
            assert "Riverside CAMHS" in page.content()
            shot(page, "05-services")

            # Its questionnaire is issued: a long one, answered a section at a time from an
            # overview; the lead answers, and the follow-up appears (htmx).
            reload_until(page, f"{portal}/returns/{CYCLE}", "Service: Riverside CAMHS")
            page.click("a:has-text('Service: Riverside CAMHS')")
            questionnaire_url = page.url
            assert "0 of 5 answered" in page.locator(".govuk-task-list").inner_text()
            page.click("a:has-text('Service characteristics')")
            page.check("#q-service_area-4")
            page.check("#q-provider_sector")
            page.check("#q-setting")
            page.check("#q-delivery_model")
            page.click("button:has-text('Save and continue')")
            page.wait_for_url(re.compile(r"/sections/client_group$"))
            page.goto(f"{questionnaire_url}/sections/need")
            page.check("#q-level_of_need-3")
            page.click("button:has-text('Save and continue')")
            page.wait_for_url(re.compile(r"/sections/mental_health$"))
            # The service record says it is not CAMHS: that answer is filled in already.
            assert page.locator("#q-camhs-2").is_checked()
            assert page.locator("#q-camhs_tier").count() == 0
            page.check("#q-camhs")  # yes
            page.wait_for_selector("#q-camhs_tier")
            page.check("#q-camhs_tier-3")
            page.check("#q-camhs_team_type")
            shot(page, "06-follow-up-appeared")
            page.click("button:has-text('Save and continue')")
            page.wait_for_url(re.compile(r"/sections/workforce$"))
            page.goto(f"{questionnaire_url}/sections/mental_health")
            assert page.locator("#q-camhs_tier-3").is_checked()

            # Without JavaScript, "save and continue" is what brings the follow-ups.
            nojs = watch(browser.new_context(java_script_enabled=False), violations)
            nojs.add_cookies(page.context.cookies())
            plain = nojs.new_page()
            plain.goto(f"{questionnaire_url}/sections/integration")
            assert plain.locator("#q-partner_agencies").count() == 0
            plain.check("#q-multi_agency")  # yes
            plain.click("button:has-text('Save and continue')")
            assert plain.locator("#q-partner_agencies").count() == 1
            shot(plain, "07-follow-up-without-javascript", axe=False)
            plain.check("#q-multi_agency-2")  # no, after all
            plain.click("button:has-text('Save and continue')")
            assert "/sections/access" in plain.url
            assert plain.locator("#q-partner_agencies").count() == 0
            nojs.close()

            # Submitting too soon (from "check your answers") lists what is missing, each
            # linked to its section's page.
            page.goto(f"{questionnaire_url}/check")
            page.click("button:has-text('Submit questionnaire')")
            assert "There is a problem" in page.locator(".govuk-error-summary").inner_text()
            to_workforce = ".govuk-error-summary a[href$='/sections/workforce#q-wte_total']"
            assert page.locator(to_workforce).count() == 1
            shot(page, "08-submit-missing")

            # Delegate it.
            page.goto(questionnaire_url)
            page.click("button:has-text('ask someone else')")
            page.fill("#email", delegate_email)
            page.fill("#message", "Please add the workforce and money")
            page.click("button:has-text('Send link')")
            page.wait_for_url(re.compile(r"/delegate\?done=sent"))
            shot(page, "09-delegated")

            # The delegate completes it from the emailed link, in their own browser.
            invitation = mail_to(infra, delegate_email, "Please complete")
            delegate_link = link_in(invitation, re.escape(portal) + "/delegate/")
            other = watch(browser.new_context(), violations)
            # A slow network for the delegate: each follow-up re-render leaves 0.8 s late, so
            # what is typed meanwhile must survive the swap that follows.
            other.add_init_script(SLOW_PREVIEWS)
            d = other.new_page()
            d.set_default_timeout(20_000)
            d.goto(delegate_link)
            assert "Riverside CAMHS" in d.content()
            assert "Please add the workforce and money" in d.locator("#lead-note").inner_text()
            d.goto(f"{delegate_link}/sections/mental_health")
            assert d.locator("#q-camhs_tier-3").is_checked()
            d.goto(f"{delegate_link}/sections/client_group")
            d.check("#q-age_bands-2")
            d.check("#q-client_groups-13")  # other: its follow-up re-renders the questions
            d.fill("#q-caseload_total", "many")  # typed while the re-render is on its way
            d.wait_for_function("() => !document.querySelector('.htmx-request')")
            d.wait_for_timeout(300)  # the swap has landed: what was typed is still there
            assert d.input_value("#q-caseload_total") == "many"
            d.fill("#q-client_groups_other", "Home-schooled children")
            d.click("button:has-text('Save and continue')")
            assert "Must be a whole number" in d.locator(".govuk-error-summary").inner_text()
            assert d.locator("#q-caseload_total-error").is_visible()
            shot(d, "10-delegate-field-error")
            d.fill("#q-caseload_total", "140")
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"/sections/need$"))
            d.goto(f"{delegate_link}/sections/workforce")
            d.fill("#q-wte_nursing", "2.5")
            d.fill("#q-wte_total", "2.5")
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"/sections/investment$"))
            d.fill("#q-investment_nhs", "120000")
            d.fill("#q-investment_total", "120000")
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"/sections/integration$"))
            d.goto(f"{delegate_link}/sections/access")
            d.check("#q-referral_routes")
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"/check$"))
            shot(d, "11-delegate-view")
            d.fill("#return-comment", "All done")
            d.click("button:has-text('Return to the mapping lead')")
            assert "Questionnaire returned" in d.content()
            shot(d, "11b-delegate-returned")
            d.goto(delegate_link)  # a returned link says so
            shot(d, "11c-delegate-link-closed")
            other.close()
            mail_to(infra, lead_email, "Returned to you")

            # The lead accepts and submits.
            page.goto(questionnaire_url)
            page.click("button:has-text('Accept their answers')")
            page.wait_for_url(re.compile(r"done=accepted"))
            page.goto(f"{questionnaire_url}/check")
            page.click("button:has-text('Submit questionnaire')")
            page.wait_for_url(re.compile(rf"/returns/{CYCLE}\?done=submitted"))

            # The self-assessment, a section at a time: every question scored 2.
            page.click("a:has-text('Commissioning self-assessment')")
            page.locator(".govuk-task-list a").first.click()
            while "/sections/" in page.url:
                for radio in page.locator("input[type=radio][value='2']").all():
                    radio.check()
                before = page.url
                page.click("button:has-text('Save and continue')")
                page.wait_for_url(lambda url, before=before: url != before)
            assert page.url.endswith("/check")
            page.click("button:has-text('Submit questionnaire')")
            page.wait_for_url(re.compile(rf"/returns/{CYCLE}\?done=submitted"))
            shot(page, "12-all-submitted")

            # Sign-off says what is signed, refuses without the confirmation, then signs.
            page.click("a:has-text('Check and sign off')")
            signing = page.locator("#signing").inner_text()
            assert "Riverside CAMHS" in signing and "self-assessment" in signing
            page.click("button:has-text('Sign off the return')")
            assert page.locator("#confirm-error").is_visible()
            shot(page, "13-sign-off")
            page.check("#confirm")
            page.click("button:has-text('Sign off the return')")
            assert "Return signed off" in page.content()
            # The panel says which organisation in bold, not with its tags as text (#18).
            panel = page.locator(".govuk-panel")
            assert "<strong>" not in panel.inner_text() and panel.locator("strong").count() == 1
            shot(page, "14-signed-off")
            confirmation = mail_to(infra, lead_email, "Signed off")
            assert "questionnaires submitted: 2" in confirmation["body"]

            # A report over the reporting service shows the organisation's data: the
            # scorecard's grades as coloured cells, with CSV and XLSX downloads.
            report = f"{portal}/reports/self-assessment-scorecard?cycle={CYCLE}&organisation={org}"
            reload_until(page, report, "csm-grade--yellow")
            shot(page, "15-report")
            with page.expect_download() as download:
                page.click("a:has-text('Download this table (CSV)')")
            assert download.value.suggested_filename.endswith(".csv")

            # Once signed off, no service can be added: no button, and the page refuses.
            page.goto(f"{portal}/services")
            assert page.locator("a:has-text('Add a service')").count() == 0
            service_path = page.get_attribute("a:has-text('Riverside CAMHS')", "href")
            refused = page.goto(f"{portal}/services/new")
            assert refused is not None and refused.status == 409
            assert "was signed off on" in page.content()
            shot(page, "19-add-service-refused")
            # Nor is a service revised or withdrawn, nor a submission taken back: the pages
            # say why and who can reopen the return instead of offering them.
            page.goto(f"{portal}{service_path}")
            assert page.locator("a:has-text('Revise')").count() == 0
            assert page.locator("a:has-text('Withdraw')").count() == 0
            assert "national mapping team to reopen" in page.locator("#settled").inner_text()
            shot(page, "19b-service-signed-off")
            refused = page.goto(f"{portal}{service_path}/withdraw")
            assert refused is not None and refused.status == 409
            page.goto(questionnaire_url)
            assert "cannot be changed" in page.locator("#signed-off").inner_text()
            assert page.locator("a:has-text('Take back the submission')").count() == 0
            shot(page, "19c-questionnaire-signed-off")
            # The history names people, not account or link ids, and shows Yes, not True.
            questionnaire_path = questionnaire_url.removeprefix(portal).split("?")[0]
            page.goto(f"{portal}{questionnaire_path}/history")
            history = page.locator("#history").inner_text()
            assert f"You ({lead_email})" in history and delegate_email in history, history
            assert "user:" not in history and "delegate:" not in history
            assert "True" not in history and "False" not in history
            assert re.search(r"\d{1,2} [A-Z][a-z]+ \d{4} at \d{1,2}(:\d\d)?[ap]m", history)
            shot(page, "20-history")
            # Every other kind of page a lead meets.
            tour(
                page,
                portal,
                {
                    "21-service": service_path,
                    "22-service-revise": f"{service_path}/revise",
                    "23-service-withdraw": f"{service_path}/withdraw",
                    "24-services-review": "/services/review",
                    "25-groups": "/groups",
                    "26-group-new": "/groups/new",
                    "27-questionnaire-signed-off": questionnaire_path,
                    "28-delegate-manage": f"{questionnaire_path}/delegate",
                    "29-withdraw-submission": f"{questionnaire_path}/withdraw-submission",
                    "30-reports": "/reports",
                    "31-contact": "/contact",
                    "32-accessibility": "/accessibility",
                    "33-privacy": "/privacy",
                    "34-cookies": "/cookies",
                    "35-not-found": "/no-such-page",
                    "36-forbidden": "/national",
                    "37-return": f"/returns/{CYCLE}",
                },
            )
            assert "Privacy notice" in page.locator("footer").inner_text()

            # A group owner counts the questionnaires they are shown (their group has none
            # yet), not the whole organisation's (#18: "3 issued" beside a list of 1).
            owner_email = f"owner-{secrets.token_hex(3)}@pct.nhs.uk"
            page.goto(f"{portal}/groups/new")
            page.fill("#name", "North locality")
            page.check("#kind")
            page.fill("#owner_name", "Olu Owner")
            page.fill("#owner_email", owner_email)
            page.click("button:has-text('Define group')")
            page.wait_for_url(re.compile(r"/groups\?done=defined"))
            owner = watch(browser.new_context(), violations).new_page()
            owner.set_default_timeout(20_000)
            owner_setup = mail_to(infra, owner_email, "Set up your")
            set_password(owner, link_in(owner_setup, re.escape(portal) + "/account/set-up"))
            sign_in(owner, portal, owner_email)
            owner.wait_for_url(re.compile(rf"/returns/{CYCLE}"))
            assert "0 issued, 0 submitted, 0 still to do" in owner.content()
            shot(owner, "38-group-owner-return")
            owner.context.close()
            page.goto(f"{portal}/returns/{CYCLE}")
            assert "2 issued, 2 submitted, 0 still to do" in page.content()

            # A form post without its token (no Origin either: the probe that got through)
            # is refused with a page saying what to do, and the lead stays signed in.
            forged = page.request.post(f"{portal}/sign-out", form={})
            assert forged.status == 403 and "Your form could not be sent" in forged.text()
            # The local mailbox is the national admin's only.
            assert page.goto(f"{portal}/mailbox").status == 404
            page.goto(f"{portal}/returns/{CYCLE}")
            assert "Sign out" in page.content()

            # The national team sees participation and the delivery log.
            page.click("button:has-text('Sign out')")
            sign_in(page, portal, admin_email)
            page.wait_for_url(f"{portal}/national")
            participation = f"{portal}/national/cycles/{CYCLE}/participation"
            reload_until(page, participation, org)
            assert org in page.locator("#by-organisation").inner_text()
            # ... and grants the organisation an extension through the page.
            page.click(f"a[href$='/returns/{org}/extension']")
            page.click("button:has-text('Grant extension')")
            assert page.locator("#reason-error").is_visible()
            fill_when(page, "until", datetime.now(UTC) + timedelta(days=120))
            page.fill("#reason", "Flooded offices")
            page.click("button:has-text('Grant extension')")
            page.wait_for_url(re.compile(r"/participation\?done=extended"))
            assert "Data entry has been extended" in page.content()
            shot(page, "17a-extension-granted")
            page.goto(f"{portal}/national/notifications")
            assert lead_email in page.content()
            shot(page, "17-delivery-log")
            # The national team reopens the return; its history names the admin to the national
            # team (who may know every account), the lead and the delegate too.
            page.goto(f"{portal}/national/cycles/{CYCLE}/returns/{org}/reopen")
            page.fill("#reason", "Caseload to correct")
            page.click("button:has-text('Continue')")
            page.click("button:has-text('Yes, reopen the return')")
            page.wait_for_url(re.compile(r"done=reopened"))
            page.goto(f"{portal}{questionnaire_path}/history")
            history = page.locator("#history").inner_text()
            assert "You (" in history and "Ann Lead" in history and delegate_email in history
            assert "user:" not in history and "delegate:" not in history
            assert "Another account" not in history, history
            shot(page, "53b-history-reopened")
            # Every other kind of page the national team meets.
            tour(
                page,
                portal,
                {
                    "40-national": "/national",
                    "41-organisations": "/national/organisations",
                    "42-organisation": f"/national/organisations/{org}",
                    "43-lead": f"/national/organisations/{org}/lead",
                    "44-organisation-groups": f"/national/organisations/{org}/groups",
                    "45-cycle": f"/national/cycles/{CYCLE}",
                    "46-timetable": f"/national/cycles/{CYCLE}/timetable",
                    "47-phase": f"/national/cycles/{CYCLE}/phase",
                    "48-reminders": f"/national/cycles/{CYCLE}/reminders",
                    "49-bulletins": "/national/bulletins",
                    "50-bulletin-new": "/national/bulletins/new",
                    "51-cycle-new": "/national/cycles/new",
                    "52-reopen": f"/national/cycles/{CYCLE}/returns/{org}/reopen",
                    "53-history-national": f"{questionnaire_path}/history",
                    "54-report-scorecard": report.removeprefix(portal),
                    "55-sandbox": "/sandbox",
                },
            )
            # A timetable out of order is said on the date that is too early, in words.
            page.goto(f"{portal}/national/cycles/{CYCLE}/timetable")
            page.fill("#data_entry_closes-year", str(datetime.now(UTC).year - 1))
            page.fill("#reason", "Testing the order")
            page.click("button:has-text('Change timetable')")
            closes = page.locator("#data_entry_closes-error").inner_text()
            assert "Data entry must close after summary reports are sent" in closes
            shot(page, "46b-timetable-out-of-order")
            # A page below the top goes back to its parent page.
            page.goto(f"{portal}/national/organisations/{org}/lead")
            back = page.get_attribute("nav[aria-label='Back'] a.govuk-back-link", "href")
            assert back == f"/national/organisations/{org}", back
            # The navigation marks where you are.
            page.goto(f"{portal}/national/bulletins")
            assert page.locator("a[aria-current='true']:has-text('National team')").count() == 1

            # The mailbox page lists what the SMTP sink received, with working links.
            page.goto(f"{portal}/mailbox")
            assert "Signed off" in page.content()
            assert page.locator(f"a[href^='{portal}/delegate/']").count() >= 1
            shot(page, "16-mailbox")

            # The sandbox needs no account; a follow-up appears there too.
            sandbox = watch(browser.new_context(), violations).new_page()
            sandbox.goto(f"{portal}/sandbox/service")
            sandbox.check("#q-camhs")
            sandbox.wait_for_selector("#q-camhs_tier")
            shot(sandbox, "56-sandbox-questionnaire")
            sandbox.goto(f"{portal}/")
            shot(sandbox, "57-start-signed-out")
            sandbox.close()

            # A service that is down: a page naming it, not a stack trace.
            stack["reporting"].stop()
            page.goto(f"{portal}/reports")
            assert "Sorry, the reporting service is unavailable" in page.content()
            shot(page, "18-service-unavailable")
            # Every page checked on the way: none wider than its window at 1280 or 375 px, no
            # critical or serious accessibility violation, nothing outside a landmark.
            record = AUDIT.write()
            problems = AUDIT.problems()
            assert problems == [], f"{len(problems)} problems (see {record}): {problems[:5]}"
            if violations:  # the whole list, for whoever has to find where they come from
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                (ARTEFACTS / "csp-violations.txt").write_text("\n".join(violations))
            assert violations == [], f"{len(violations)} CSP violations, first: {violations[:3]}"
        finally:
            AUDIT.write()  # what was found so far, for whoever looks into a failure
            browser.close()
