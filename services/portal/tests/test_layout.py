"""What every page carries (issue #18): footer links to real accessibility, privacy, cookies
and contact pages with the configured contact details, a beta banner whose feedback text is a
link, the current page marked in the navigation, and a back link below the top level."""

from __future__ import annotations

import re

import httpx
import more_fakes
import pytest
from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, browser, portal

from portal.bootstrap import build_app
from portal.settings import PortalSettings


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/accessibility", "Accessibility statement for"),
        ("/privacy", "Privacy notice"),
        ("/cookies", "Cookies"),
        ("/contact", "Contact the national mapping team"),
    ],
)
async def test_the_footer_pages_are_real_pages(path: str, heading: str) -> None:
    app, _ = portal()
    async with browser(app) as client:
        start = await client.get("/sign-in")
        page = await client.get(path)
    assert f'href="{path}"' in start.text  # linked from every page's footer
    assert page.status_code == 200 and heading in page.text
    assert 'class="govuk-back-link"' not in page.text  # top level: nothing to go back to


async def test_contact_details_come_from_configuration() -> None:
    settings = PortalSettings(
        mailbox_auto=False,
        auth_public_key_file=None,
        contact_email="help@csm.example.gov.uk",
        contact_phone="0113 496 0000",
        feedback_url="https://survey.example.gov.uk/csm",
    )
    transport = httpx.ASGITransport(app=build_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://p.test") as client:
        contact = await client.get("/contact")
    assert "help@csm.example.gov.uk" in contact.text and "0113 496 0000" in contact.text
    assert 'href="https://survey.example.gov.uk/csm">give your feedback</a>' in contact.text


async def test_the_beta_banner_links_to_feedback_and_sits_in_the_header() -> None:
    app, _ = portal()
    async with browser(app) as client:
        page = (await client.get("/sign-in")).text
    header = page[page.index("<header") : page.index("</header>")]
    assert "govuk-phase-banner" in header and 'href="/contact">give your feedback</a>' in header


async def test_the_navigation_marks_the_current_page_and_its_section() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        services = (await client.get("/services")).text
        review = (await client.get("/services/review")).text
    assert re.search(r'href="/services"\s+aria-current="page"', services)
    assert re.search(r'href="/services"\s+aria-current="true"', review)
    assert 'aria-current="page"' not in review


async def test_pages_below_the_top_go_back_to_their_parent() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        groups = (await client.get("/groups")).text
        services = (await client.get("/services")).text
    assert re.search(r'<nav class="csm-back" aria-label="Back">\s*<a href="/services"', groups)
    assert "govuk-back-link" not in services


async def test_a_return_is_the_top_of_your_return() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        page = (await client.get("/returns/2009-10")).text
    assert re.search(r'href="/dashboard"\s+aria-current="page"', page)
    assert "govuk-back-link" not in page


async def test_a_footer_page_knows_who_is_signed_in() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        page = (await client.get("/contact")).text
    assert "Sign out" in page and 'href="/services"' in page


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/national/organisations/5A4/lead", "/national/organisations/5A4"),
        ("/national/organisations/5A4", "/national/organisations"),
        ("/national/cycles/2009-10", "/national"),  # /national/cycles is no page
        ("/services/abc/revise", "/services/abc"),
        ("/groups", "/services"),
        ("/returns/2009-10/sign-off", "/returns/2009-10"),
        ("/returns/2009-10", None),
        ("/delegate/some-token", None),
        ("/contact", None),
    ],
)
def test_where_back_goes(path: str, back: str | None) -> None:
    from starlette.requests import Request

    from portal.entrypoints.web.navigation import back_link

    app, _ = portal()
    request = Request({"type": "http", "method": "GET", "path": path, "app": app, "headers": []})
    assert back_link(request) == back


@pytest.mark.parametrize(
    "path", ["/sign-in", "/forgotten-password", "/set-up-link", "/account/set-up?token=t"]
)
async def test_a_way_in_offers_no_sign_in_link_to_itself(path: str) -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app) as client:
        r = await client.get(path)
        elsewhere = await client.get("/contact")
    assert r.status_code == 200
    assert not re.search(r'<a [^>]*href="/sign-in"[^>]*>\s*Sign in\s*</a>', r.text)
    assert re.search(r'<a [^>]*href="/sign-in"[^>]*>\s*Sign in\s*</a>', elsewhere.text)


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        (LEAD_TOKEN, "Signed in as Lee Lead (lead@pct.nhs.uk) for Riverside Primary Care Trust"),
        (ADMIN_TOKEN, "Signed in as Ada Admin (ada@dh.gov.uk)"),
    ],
)
async def test_signed_in_as_names_the_person_and_their_organisation(token: str, shown: str) -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, token) as client:
        first = await client.get("/contact")
        again = await client.get("/privacy")
    bar = re.search(r'<div class="csm-account-bar[^"]*">(.*?)<form', first.text, re.S)
    assert bar is not None
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", bar.group(1))).strip()
    assert words == shown
    assert "5A4" not in words
    assert "Riverside Primary Care Trust" in again.text or token == ADMIN_TOKEN
