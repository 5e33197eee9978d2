"""The whole cycle through the portal in a real browser (Playwright driving Debian's Chromium),
every service its own process on the real broker, database and SMTP sink: the national admin
sets a password from the emailed link, registers an organisation with its lead and schedules
the cycle on its page; the lead sets a password from the email, signs in, adds a service,
answers its questionnaire (a follow-up appears as the answers change, with and without
JavaScript), delegates it; the delegate completes it from the emailed link; the lead accepts
and submits, answers the self-assessment, signs off, the confirmation email arrives and a
report shows the data; the national team sees participation, grants the organisation an
extension and reads the local mailbox (which the lead cannot).
Every page runs under the portal's strict Content-Security-Policy: the journey fails on any
violation the browser reports, and a form post without its CSRF token is refused.
Screenshots of the key pages go to var/test-artefacts/portal/ (the sign-in page and a form at
1280 and 375 px wide too)."""

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
from playwright.sync_api import sync_playwright

from csm_kernel.links import ensure_link_key
from service_processes import ServiceProcess, service_process

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
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "portal"
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
    tmp = tmp_path_factory.mktemp("e2e-portal")
    key = ensure_link_key(Path(tmp) / "links.key")

    def service(name: str, **extra: str) -> ServiceProcess:
        return service_process(
            name, infra, auth_keys, tmp, f"portal_{name}", CSM_LINK_KEY_FILE=str(key), **extra
        )

    running = {
        "registration": service(
            "registration", CSM_AUTH_PRIVATE_KEY_FILE=str(auth_keys.private_file)
        ),
        "questionnaire": service("questionnaire", CSM_CYCLE_TICK_SECONDS="0.5"),
        "notification": service("notification"),
        "reporting": service("reporting"),
        "portal": service(
            "portal", CSM_MAILBOX_DIR=str(infra.mail_dir), CSM_MAILBOX_ENABLED="true"
        ),
    }
    portal = running["portal"]
    for name, s in running.items():
        s.env["CSM_PORTAL_URL"] = portal.url
        portal.env[f"CSM_{name.upper()}_URL"] = s.url
    for s in running.values():
        s.start()
    try:
        yield running
    finally:
        for s in running.values():
            s.stop()


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
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 720})


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


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret puts a style attribute on every input, which an htmx
    # swap landing meanwhile copies onto the new inputs, and the CSP rightly refuses that.
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True, caret="initial")


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
            shot(page, "04-dashboard")

            # Adds a service: a missing field first, then the whole form.
            page.goto(f"{portal}/services/new")
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

            # Its questionnaire is issued; the lead answers, and the follow-up appears (htmx).
            reload_until(page, f"{portal}/returns/{CYCLE}", "Service: Riverside CAMHS")
            page.click("a:has-text('Service: Riverside CAMHS')")
            questionnaire_url = page.url
            page.check("#q-service_area-4")
            page.check("#q-provider_sector")
            page.check("#q-setting")
            page.check("#q-delivery_model")
            page.check("#q-level_of_need-3")
            assert page.locator("#q-camhs_tier").count() == 0
            page.check("#q-camhs")  # yes
            page.wait_for_selector("#q-camhs_tier")
            page.check("#q-camhs_tier-3")
            page.check("#q-camhs_team_type")
            shot(page, "06-follow-up-appeared")
            page.click("button:has-text('Save and continue')")
            page.wait_for_url(re.compile(r"\?done=saved"))
            assert page.locator("#q-camhs_tier-3").is_checked()

            # Without JavaScript, "save and continue" is what brings the follow-ups.
            nojs = watch(browser.new_context(java_script_enabled=False), violations)
            nojs.add_cookies(page.context.cookies())
            plain = nojs.new_page()
            plain.goto(questionnaire_url)
            assert plain.locator("#q-partner_agencies").count() == 0
            plain.check("#q-multi_agency")  # yes
            plain.click("button:has-text('Save and continue')")
            assert plain.locator("#q-partner_agencies").count() == 1
            shot(plain, "07-follow-up-without-javascript")
            plain.check("#q-multi_agency-2")  # no, after all
            plain.click("button:has-text('Save and continue')")
            assert plain.locator("#q-partner_agencies").count() == 0
            nojs.close()

            # Submitting too soon lists what is missing.
            page.goto(questionnaire_url)
            page.click("button:has-text('Submit questionnaire')")
            assert "There is a problem" in page.locator(".govuk-error-summary").inner_text()
            assert page.locator("#q-wte_total-error").is_visible()
            shot(page, "08-submit-missing")

            # Delegate it.
            page.click("a:has-text('Ask someone else')")
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
            assert d.locator("#q-camhs_tier-3").is_checked()
            d.check("#q-age_bands-2")
            d.fill("#q-wte_nursing", "2.5")
            d.fill("#q-wte_total", "3")  # does not add up: the service's rule says so on submit
            d.fill("#q-investment_nhs", "120000")
            d.fill("#q-investment_total", "120000")
            d.check("#q-multi_agency-2")
            d.check("#q-referral_routes")
            d.fill("#q-caseload_total", "many")  # typed while the re-render is on its way
            d.wait_for_function("() => !document.querySelector('.htmx-request')")
            d.wait_for_timeout(300)  # the swap has landed: what was typed is still there
            assert d.input_value("#q-caseload_total") == "many"
            d.click("button:has-text('Save and continue')")
            assert "Must be a whole number" in d.locator(".govuk-error-summary").inner_text()
            assert d.locator("#q-caseload_total-error").is_visible()
            shot(d, "10-delegate-field-error")
            d.fill("#q-caseload_total", "140")
            d.fill("#q-wte_total", "2.5")
            d.click("button:has-text('Save and continue')")
            d.wait_for_url(re.compile(r"\?done=saved"))
            shot(d, "11-delegate-view")
            d.fill("#return-comment", "All done")
            d.click("button:has-text('Return to the mapping lead')")
            assert "Questionnaire returned" in d.content()
            other.close()
            mail_to(infra, lead_email, "Returned to you")

            # The lead accepts and submits.
            page.goto(questionnaire_url)
            page.click("button:has-text('Accept their answers')")
            page.wait_for_url(re.compile(r"done=accepted"))
            page.click("button:has-text('Submit questionnaire')")
            page.wait_for_url(re.compile(rf"/returns/{CYCLE}\?done=submitted"))

            # The self-assessment: every question scored 2.
            page.click("a:has-text('Commissioning self-assessment')")
            for radio in page.locator("input[type=radio][value='2']").all():
                radio.check()
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
            sandbox.close()

            # A service that is down: a page naming it, not a stack trace.
            stack["reporting"].stop()
            page.goto(f"{portal}/reports")
            assert "Sorry, the reporting service is unavailable" in page.content()
            shot(page, "18-service-unavailable")
            if violations:  # the whole list, for whoever has to find where they come from
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                (ARTEFACTS / "csp-violations.txt").write_text("\n".join(violations))
            assert violations == [], f"{len(violations)} CSP violations, first: {violations[:3]}"
        finally:
            browser.close()
