"""The headers on the portal's responses (CSP, no-store, HSTS, nosniff, referrer policy), pages
that the strict CSP lets work (no inline script but by its nonce, no inline style, no
`javascript:` links), and every state-changing form carrying its CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import more_fakes
import pytest
from fastapi import FastAPI
from more_fakes import SERVICE_ID
from portal_fakes import ADMIN_TOKEN, CSRF_SECRET, LEAD_TOKEN, browser, portal

from portal.entrypoints.web import csrf
from portal.settings import PortalSettings

TEMPLATES = Path(__file__).parents[1] / "src" / "portal" / "templates"

#: Pages with forms, as who sees them (None: signed out); every one must render (200).
FORM_PAGES: list[tuple[str | None, str]] = [
    (None, "/sign-in"),
    (None, "/account/set-up?token=t"),
    (None, "/account/reset-password?token=t"),
    (None, "/forgotten-password"),
    (None, "/set-up-link"),
    (None, "/sandbox/service@1"),
    (LEAD_TOKEN, "/questionnaires/q1"),
    (LEAD_TOKEN, "/questionnaires/q1/withdraw-submission"),
    (LEAD_TOKEN, "/services/new"),
    (LEAD_TOKEN, f"/services/{SERVICE_ID}"),
    (LEAD_TOKEN, f"/services/{SERVICE_ID}/revise"),
    (LEAD_TOKEN, f"/services/{SERVICE_ID}/withdraw"),
    (LEAD_TOKEN, "/groups/new"),
    (ADMIN_TOKEN, "/national/organisations/new"),
    (ADMIN_TOKEN, "/national/cycles/new"),
    (ADMIN_TOKEN, "/national/cycles/2009-10/timetable"),
    (ADMIN_TOKEN, "/national/cycles/2009-10/phase"),
    (ADMIN_TOKEN, "/national/cycles/2009-10/returns/5A4/extension"),
    (ADMIN_TOKEN, "/national/cycles/2009-10/reminders"),
    (ADMIN_TOKEN, "/national/bulletins/new"),
]

POST_FORM = re.compile(r"<form\b[^>]*\bmethod=\"post\"[^>]*>(.*?)</form>", re.S | re.I)


def csp_of(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def assert_strict_csp(response: httpx.Response) -> None:
    csp = csp_of(response)
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{20,})'", csp["script-src"])
    assert nonce, csp["script-src"]
    assert csp["default-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert csp["form-action"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    html = response.text
    # Every script is a file of this site, or inline with this response's nonce.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag or f'nonce="{nonce.group(1)}"' in tag, tag
    # Nothing the policy would block: inline styles, event handlers, javascript: links.
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", html, re.I)


async def test_a_public_page_has_every_header_and_a_strict_csp() -> None:
    app, _ = portal()
    async with browser(app) as client:
        r = await client.get("/sign-in")
    assert r.status_code == 200
    assert_strict_csp(r)
    assert r.headers["cache-control"] == "no-store"  # it carries a form token
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    # htmx adds no inline <style> for its indicators, which the policy would refuse.
    assert '"includeIndicatorStyles": false' in r.text


async def test_signed_in_pages_and_downloads_are_never_stored() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        page = await client.get("/questionnaires/q1")
        redirect = await client.post("/groups/new", data={**{"name": "South"}})
        signed_out = await client.get("/sign-in")
    assert page.status_code == 200
    assert_strict_csp(page)
    for r in (page, redirect, signed_out):
        assert r.headers["cache-control"] == "no-store", r.request.url
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_each_response_gets_its_own_nonce() -> None:
    app, _ = portal()
    async with browser(app) as client:
        first, second = await client.get("/sign-in"), await client.get("/sign-in")
    assert csp_of(first)["script-src"] != csp_of(second)["script-src"]


async def test_static_assets_may_be_cached() -> None:
    app, _ = portal()
    async with browser(app) as client:
        css = await client.get("/static/govuk/govuk-frontend.min.css")
        own = await client.get("/static/portal/init.js")
    assert css.status_code == own.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "initAll()" in own.text


def _app(**settings: object) -> FastAPI:
    app, _ = portal()
    app.state.portal.settings = PortalSettings(
        mailbox_auto=False, auth_public_key_file=None, **settings
    )
    return app


async def test_hsts_only_over_https_unless_the_proxy_setting_says_so() -> None:
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://p.test")
    forced = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(hsts=True)), base_url="http://p.test"
    )
    async with plain, forced:
        over_http = await plain.get("/sign-in")
        behind_proxy = await forced.get("/sign-in")
    assert "strict-transport-security" not in over_http.headers
    assert behind_proxy.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_the_last_resort_error_page_has_the_headers_too() -> None:
    app, _ = portal()

    async def boom() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/boom", boom)
    async with browser(app) as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert_strict_csp(r)
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("who", "path"), FORM_PAGES)
async def test_every_post_form_on_a_page_carries_the_sessions_token(
    who: str | None, path: str
) -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, who) as client:
        r = await client.get(path)
    assert r.status_code == 200, r.text
    assert_strict_csp(r)
    forms = POST_FORM.findall(r.text)
    assert forms, f"no form on {path}"
    expected = csrf.token_for(CSRF_SECRET, "")
    for body in forms:
        assert f'<input type="hidden" name="csrf_token" value="{expected}">' in body
    # htmx sends it as a header from <body>, for requests that are not a form's.
    assert f'hx-headers="{{&#34;X-CSRF-Token&#34;: &#34;{expected}&#34;}}"' in r.text


def test_every_post_form_in_the_templates_has_the_token_field() -> None:
    """A new form without the token fails here, whether or not a page test renders it."""
    found = 0
    for template in sorted(TEMPLATES.rglob("*.html")):
        for body in POST_FORM.findall(template.read_text()):
            found += 1
            assert '<input type="hidden" name="csrf_token" value="{{ csrf_token }}">' in body, (
                template.relative_to(TEMPLATES)
            )
    assert found >= 20  # every form of the portal was seen
