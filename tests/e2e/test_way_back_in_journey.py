"""A way back in, in a real browser (Playwright driving Debian's Chromium) against every
service as its own process on the real broker, database and SMTP sink (issue #18):

- the national team sends a lead who has not set up their account a new set-up link from the
  organisation's page; the old link, opened, says a newer one was sent (before any password
  is typed); the new one works once, and opened again says it was used;
- a forgotten password: the sign-in page's link, the same answer for an address with no
  account, the emailed reset link, a new password, the "password changed" email;
- a session that ends while the lead is answering: Save sends them to sign in, the page says
  why, and after signing in again their answer is saved with one button;
- an extension granted: the lead is emailed.

Screenshots at 1280 and 375 px go to var/test-artefacts/way-back-in/."""

from __future__ import annotations

import base64
import json
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

from service_processes import ServiceProcess, portal_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new long passphrase"
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "way-back-in"


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    with portal_stack(
        infra,
        auth_keys,
        tmp_path_factory.mktemp("e2e-way-back-in"),
        "way",
        ("registration", "questionnaire", "notification"),
    ) as running:
        yield running


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True, caret="initial")


def widths(page: Any, name: str) -> None:
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px"
    page.set_viewport_size({"width": 1280, "height": 720})


def mails_to(infra: Any, to: str, subject_part: str, count: int = 1, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in infra.mailbox() if m["to"] == to and subject_part in m["subject"]]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no '{subject_part}' email to {to}")


def link_in(message: dict[str, Any], pattern: str) -> str:
    found = re.search(pattern + r"\S*", message["body"])
    assert found, message["body"]
    return found.group(0)


def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")


def set_password(page: Any, link: str) -> None:
    page.goto(link)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button:has-text('Create password')")
    page.wait_for_url(re.compile(r"/sign-in\?done=password-set"))


def expired(access_token: str) -> str:
    """The same token as if its 15 minutes were up (its signature no longer matches, so the
    portal refuses it as it refuses an expired one, and turns to the refresh token)."""
    header, payload, signature = access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(time.time()) - 60
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{body}.{signature}"


def test_a_way_back_in_and_no_lost_answers(stack, infra, auth_keys) -> None:
    registration = stack["registration"].url
    portal = stack["portal"].url
    admin = auth_keys.headers("national-admin")
    org = "B" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
    admin_email = f"admin-{secrets.token_hex(3)}@dh.gov.uk"
    lead_email = f"lead-{secrets.token_hex(3)}@pct.nhs.uk"
    with httpx.Client(timeout=30) as client:
        r = client.post(
            f"{registration}/organisations",
            headers=admin,
            json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
        )
        assert r.status_code == 201, r.text
        r = client.put(
            f"{registration}/organisations/{org}/lead",
            headers=admin,
            json={"email": lead_email, "name": "Lee Lead"},
        )
        assert r.status_code == 201, r.text
        r = client.post(
            f"{registration}/accounts",
            headers=admin,
            json={"email": admin_email, "name": "Ada Admin", "role": "national-admin"},
        )
        assert r.status_code == 201, r.text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(20_000)

            # The set-up email says what the account is for.
            [first] = mails_to(infra, lead_email, "Set up your")
            assert f"The account is for {org} PCT: you are its mapping lead" in first["body"]
            first_link = link_in(first, re.escape(portal) + "/account/set-up")

            # The national team sends the lead (not set up yet) a new link from the
            # organisation's page.
            set_password(
                page,
                link_in(
                    mails_to(infra, admin_email, "Set up your")[0],
                    re.escape(portal) + "/account/set-up",
                ),
            )
            sign_in(page, portal, admin_email)
            page.wait_for_url(f"{portal}/national")
            page.goto(f"{portal}/national/organisations/{org}")
            assert "Lee Lead has not set up their account yet" in page.content()
            widths(page, "01-organisation-not-set-up")
            page.click("button:has-text('Send a new set-up link')")
            page.wait_for_url(re.compile(rf"/national/organisations/{org}\?done=link-sent"))
            assert "sent a new set-up link" in page.content()
            shot(page, "02-new-link-sent")
            page.click("button:has-text('Sign out')")
            page.wait_for_url(re.compile(r"/sign-in"))

            [again] = mails_to(infra, lead_email, "A new link to set up")
            assert "Any earlier link you were sent no longer works" in again["body"]
            # The old link says so on opening, before any password is typed, and who to ask.
            page.goto(first_link)
            assert "A newer link has been sent" in page.locator("h1").inner_text()
            assert page.locator("#password").count() == 0
            assert "mapping-team@example.gov.uk" in page.content()
            widths(page, "03-old-link-superseded")
            new_link = link_in(again, re.escape(portal) + "/account/set-up")
            set_password(page, new_link)
            page.goto(new_link)
            assert "This link has already been used" in page.locator("h1").inner_text()
            assert page.locator("#password").count() == 0
            widths(page, "04-link-used")

            # A forgotten password, from the sign-in page.
            page.goto(f"{portal}/sign-in")
            widths(page, "05-sign-in")
            page.click("a:has-text('Forgot your password?')")
            widths(page, "06-forgotten-password")
            page.fill("#email", lead_email)
            page.click("button:has-text('Send me a link')")
            assert "Check your email" in page.locator("h1").inner_text()
            widths(page, "07-check-your-email")
            known = page.locator("main").inner_text().replace(lead_email, "ADDRESS")
            page.goto(f"{portal}/forgotten-password")
            nobody = f"nobody-{secrets.token_hex(3)}@pct.nhs.uk"
            page.fill("#email", nobody)
            page.click("button:has-text('Send me a link')")
            assert page.locator("main").inner_text().replace(nobody, "ADDRESS") == known

            [reset] = mails_to(infra, lead_email, "Reset your")
            page.goto(link_in(reset, re.escape(portal) + "/account/reset-password"))
            widths(page, "08-choose-a-new-password")
            page.fill("#password", NEW_PASSWORD)
            page.fill("#confirm", NEW_PASSWORD)
            page.click("button:has-text('Change password')")
            page.wait_for_url(re.compile(r"/sign-in\?done=password-reset"))
            assert "Your password has been changed" in page.content()
            mails_to(infra, lead_email, "password has been changed")
            assert not [m for m in infra.mailbox() if m["to"] == nobody]

            # The cycle opens; the lead signs in with the new password and starts answering.
            now = datetime.now(UTC)
            timetable = {
                "sandbox_opens": (now - timedelta(days=30)).isoformat(),
                "data_entry_opens": (now - timedelta(seconds=1)).isoformat(),
                "summary_reports": (now + timedelta(days=60)).isoformat(),
                "data_entry_closes": (now + timedelta(days=100)).isoformat(),
                "publication": (now + timedelta(days=140)).isoformat(),
            }
            r = httpx.post(
                f"{stack['questionnaire'].url}/cycles",
                headers=admin,
                json={"cycle": "2009-10", "timetable": timetable},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            sign_in(page, portal, lead_email, NEW_PASSWORD)
            page.wait_for_url(re.compile(r"/returns/"))
            deadline = time.monotonic() + 60
            while "Commissioning self-assessment" not in page.content():
                assert time.monotonic() < deadline, "the self-assessment was never issued"
                time.sleep(0.5)
                page.reload()
            page.click("a:has-text('Commissioning self-assessment')")
            # A long questionnaire opens on its sections: answer in the first one.
            questionnaire_url = page.url.split("?")[0]
            page.locator("main a[href*='/sections/']").first.click()
            section_url = page.url.split("?")[0]
            radio = page.locator("main input[type=radio]").nth(1)
            radio_id = radio.get_attribute("id")
            radio.check()

            # Meanwhile the session ends (signed out elsewhere) and the access token expires.
            cookies = {c["name"]: c["value"] for c in context.cookies()}
            access = cookies["csm_session"]
            out = httpx.post(
                f"{registration}/auth/sign-out",
                headers={"authorization": f"Bearer {access}"},
                timeout=30,
            )
            assert out.status_code == 204
            context.add_cookies([{"name": "csm_session", "value": expired(access), "url": portal}])

            # Save: the sign-in page says why, and that the answer is not saved yet.
            page.locator("button:has-text('Save')").first.click()
            banner = page.locator("#session-ended")
            assert "You were signed out because your session ended" in banner.inner_text()
            assert "not been saved yet" in banner.inner_text()
            assert page.input_value("#email") == lead_email
            widths(page, "09-session-ended")
            page.fill("#password", NEW_PASSWORD)
            page.click("button:has-text('Sign in')")
            assert "Your changes have not been saved yet" in page.locator("h1").inner_text()
            widths(page, "10-changes-kept")
            page.click("#save-kept")
            page.wait_for_url(re.compile(re.escape(questionnaire_url)))
            page.goto(section_url)
            assert page.locator(f"#{radio_id}").is_checked(), "the answer was lost"
            shot(page, "11-answer-saved")

            # The national team grants an extension: the lead is told by email.
            until = now + timedelta(days=120)
            r = httpx.post(
                f"{stack['questionnaire'].url}/cycles/2009-10/returns/{org}/extension",
                headers=admin,
                json={"until": until.isoformat(), "reason": "Flooded offices"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            [extended] = mails_to(infra, lead_email, "Extension granted")
            assert "Flooded offices" in extended["body"]
            assert f"until {until.day} " in extended["body"]
        finally:
            browser.close()
