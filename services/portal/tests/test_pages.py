"""The portal's pages over faked services: forms without JavaScript, the GOV.UK error
summary from the services' 422s, follow-up questions after a save, and the page a service
that is down gets. (Real browsers drive the real services in tests/e2e/test_portal_journey.)"""

from __future__ import annotations

import re

from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, browser, portal


def summary_links(html: str) -> list[tuple[str, str]]:
    block = re.search(r'govuk-error-summary__list">(.*?)</ul>', html, re.S)
    assert block, "no error summary"
    return [(h, t.strip()) for h, t in re.findall(r'<a href="([^"]+)">(.*?)</a>', block.group(1))]


async def test_sign_in_without_javascript_sets_an_httponly_secure_cookie() -> None:
    app, _ = portal()
    async with browser(app) as client:
        page = await client.get("/sign-in")
        assert page.status_code == 200
        assert '<form method="post" action="/sign-in"' in page.text
        r = await client.post(
            "/sign-in",
            data={
                "email": "ann@pct.nhs.uk",
                "password": "correct horse battery staple",
                "next": "/dashboard",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("csm_session="))
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie


async def test_a_wrong_password_is_an_error_on_the_form() -> None:
    app, _ = portal()
    async with browser(app) as client:
        r = await client.post("/sign-in", data={"email": "ann@pct.nhs.uk", "password": "nope"})
    assert r.status_code == 422
    assert summary_links(r.text) == [("#email", "Enter a correct email address and password")]


async def test_set_up_checks_the_password_before_sending_it() -> None:
    app, _ = portal()
    async with browser(app) as client:
        r = await client.post("/account/set-up", data={"token": "t", "password": "short"})
    assert summary_links(r.text) == [("#password", "Password must be 12 characters or more")]
    assert 'id="password-error"' in r.text


async def test_the_registration_services_422_becomes_a_field_error() -> None:
    app, _ = portal()
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/organisations/new",
            data={
                "code": "5A 4",
                "name": "Anytown PCT",
                "kind": "pct",
                "region": "london",
                "lead_name": "Ann Lead",
                "lead_email": "ann@pct.nhs.uk",
            },
        )
    assert r.status_code == 422
    assert summary_links(r.text) == [
        ("#code", "Organisation code: Must be 3-5 capital letters and digits")
    ]
    assert 'id="code-error"' in r.text
    assert 'value="Anytown PCT"' in r.text  # what was typed is kept


async def test_every_missing_field_is_listed() -> None:
    app, _ = portal()
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post("/national/organisations/new", data={})
    hrefs = [h for h, _ in summary_links(r.text)]
    assert hrefs == ["#code", "#name", "#kind", "#region", "#lead_name", "#lead_email"]


async def test_a_service_that_is_down_gets_a_page_naming_it() -> None:
    app, _ = portal(registration=None)
    async with browser(app) as client:
        r = await client.post("/sign-in", data={"email": "a@b.org", "password": "x" * 12})
    assert r.status_code == 503
    assert "Sorry, the registration and sign-in service is unavailable" in r.text
    assert "Traceback" not in r.text


async def test_signed_out_pages_redirect_to_sign_in_and_back() -> None:
    app, _ = portal()
    async with browser(app) as client:
        r = await client.get("/questionnaires/q1")
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in?next=/questionnaires/q1"


async def test_save_and_continue_shows_the_follow_up_without_javascript() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:
        first = await client.get("/questionnaires/q1")
        assert 'name="q.camhs"' in first.text and 'name="q.camhs_tier"' not in first.text
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "action": "continue"},
        )
        assert r.status_code == 303
        after = await client.get(r.headers["location"])
    assert 'name="q.camhs_tier"' in after.text
    assert "Your answers have been saved" in after.text
    assert fakes["questionnaire"].state.data["saves"] == [{"camhs": True}]


async def test_the_htmx_preview_shows_follow_ups_and_saves_nothing() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1/preview",
            data={"version": "1", "present": "camhs", "q.camhs": "yes"},
        )
    assert r.text.lstrip().startswith('<div id="questions">')
    assert 'name="q.camhs_tier"' in r.text
    assert fakes["questionnaire"].state.data["saves"] == []


async def test_an_answer_the_new_answers_hide_is_not_sent() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:
        await client.post(
            "/questionnaires/q1",
            data={
                "version": "1",
                "present": ["camhs", "camhs_tier"],
                "q.camhs": "no",
                "q.camhs_tier": "2",
                "action": "continue",
            },
        )
    assert fakes["questionnaire"].state.data["saves"] == [{"camhs": False}]


async def test_submitting_too_soon_lists_what_is_missing() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "action": "submit"},
        )
    assert r.status_code == 422
    assert summary_links(r.text) == [("#q-camhs_tier", "Which CAMHS tier?: Answer this question")]
    assert 'id="q-camhs_tier-error"' in r.text


async def test_a_refused_answer_is_shown_beside_its_question() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "perhaps", "action": "continue"},
        )
    assert r.status_code == 422
    assert summary_links(r.text) == [("#q-camhs", "Is it a CAMHS service?: Answer true or false")]


async def test_a_cross_site_form_post_is_refused() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post("/questionnaires/q1", data={}, headers={"origin": "https://evil"})
    assert r.status_code == 403


async def test_govuk_frontend_is_served_from_node_modules() -> None:
    app, _ = portal()
    async with browser(app) as client:
        css = await client.get("/static/govuk/govuk-frontend.min.css")
        font = await client.get("/assets/fonts/bold-b542beb274-v2.woff2")
        htmx = await client.get("/static/htmx/htmx.min.js")
    assert css.status_code == font.status_code == htmx.status_code == 200
