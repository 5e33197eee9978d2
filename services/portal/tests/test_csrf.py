"""Every form post must carry the CSRF token of the browser's session, from the page's hidden
field or htmx's header; the Origin check stays. A refusal is a 403 page that says what to do,
keeps the session and shows what was typed."""

from __future__ import annotations

import re

import httpx
import more_fakes
from fastapi import FastAPI
from portal_fakes import CSRF_SECRET, LEAD_TOKEN, browser, portal

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, TokenSigner, generate_keypair
from portal.entrypoints.web import csrf

COOKIE = csrf.cookie_name(secure=True)
SIGN_IN = {"email": "ann@pct.nhs.uk", "password": "correct horse battery staple", "next": "/"}


def token_on(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def saves(fakes: dict[str, FastAPI | None]) -> list[dict[str, object]]:
    questionnaire = fakes["questionnaire"]
    assert questionnaire is not None
    saved: list[dict[str, object]] = questionnaire.state.data["saves"]
    return saved


def session_cleared(r: httpx.Response) -> bool:
    return any(c.startswith("csm_session=") for c in r.headers.get_list("set-cookie"))


async def test_the_token_from_the_pages_form_is_accepted_without_a_header() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN, csrf_token=False) as client:
        page = await client.get("/questionnaires/q1")
        data = {"version": "1", "present": "camhs", "q.camhs": "yes", "action": "continue"}
        r = await client.post(
            "/questionnaires/q1", data={**data, "csrf_token": token_on(page.text)}
        )
    assert r.status_code == 303
    assert saves(fakes) == [{"camhs": True}]


async def test_a_post_without_a_token_is_refused_with_a_page_that_keeps_the_session() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN, csrf_token=False) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.wte_total": "3.5", "action": "continue"},
            headers={"referer": "https://portal.test/questionnaires/q1?done=saved"},
        )
    assert r.status_code == 403
    assert saves(fakes) == []  # nothing reached the service
    assert "Your form could not be sent" in r.text
    assert "Nothing was saved" in r.text
    assert 'href="/questionnaires/q1?done=saved"' in r.text  # back to the page, to reload
    # What was typed is shown (from this site's own page), and the session is untouched.
    assert "Wte total" in r.text and "3.5" in r.text
    assert not session_cleared(r)
    assert r.headers["cache-control"] == "no-store"


async def test_a_wrong_token_is_refused() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN, csrf_token=False) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "csrf_token": "x" * 43},
        )
        header = await client.post(
            "/questionnaires/q1/preview",
            data={"version": "1", "present": "camhs", "q.camhs": "yes"},
            headers={csrf.HEADER: csrf.token_for(CSRF_SECRET, "") + "x"},
        )
    assert r.status_code == header.status_code == 403
    assert saves(fakes) == []


async def test_a_token_from_another_browser_is_refused() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN, csrf_token=False) as mine:
        mine.cookies.set(COOKIE, "d" * 43, domain="portal.test")
        theirs = token_on((await mine.get("/questionnaires/q1")).text)
    async with browser(app, LEAD_TOKEN, csrf_token=False) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "present": "camhs", "q.camhs": "yes", "csrf_token": theirs},
        )
    assert r.status_code == 403
    assert saves(fakes) == []


def access_token(signer: TokenSigner, session_id: str) -> str:
    principal = Principal("a1", session_id, frozenset({Role.MAPPING_LEAD}), "5A4")
    return signer.issue(principal)[0]


async def test_a_token_made_for_another_session_is_refused() -> None:
    """The same browser cookie, but the form was shown to another registration session (someone
    else signed in since, or a planted cookie): its token does not fit this session."""
    private, _ = generate_keypair()
    signer = TokenSigner(private)
    now = access_token(signer, "session-2")
    assert csrf.session_id_of(now) == "session-2"
    app, _ = portal()
    stale = {csrf.HEADER: csrf.token_for(CSRF_SECRET, "session-1")}
    fresh = {csrf.HEADER: csrf.token_for(CSRF_SECRET, "session-2")}
    async with browser(app, now, csrf_token=False) as client:
        refused = await client.post("/sign-out", headers=stale)
        accepted = await client.post("/sign-out", headers=fresh)
    assert csrf.token_for(CSRF_SECRET, "session-1") != csrf.token_for(CSRF_SECRET, "session-2")
    assert refused.status_code == 403
    assert accepted.status_code == 303


async def test_a_post_with_no_origin_and_no_token_is_refused() -> None:
    """The probe that got through: a POST with no Origin header at all."""
    app, _ = portal()
    async with browser(app, csrf_token=False) as client:
        del client.headers["origin"]
        r = await client.post("/sign-in", data=SIGN_IN)
        page = await client.get("/sign-in")
        ok = await client.post("/sign-in", data={**SIGN_IN, "csrf_token": token_on(page.text)})
    assert r.status_code == 403
    assert "Ann" not in r.text and "ann@pct.nhs.uk" not in r.text  # no Origin: nothing echoed
    assert ok.status_code == 303  # no Origin but the right token: a browser that sends none


async def test_another_sites_origin_is_refused_even_with_a_token() -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(
            "/questionnaires/q1",
            data={"version": "1", "q.wte_total": "=HYPERLINK()"},
            headers={"origin": "https://evil.example"},
        )
    assert r.status_code == 403
    assert "HYPERLINK" not in r.text  # another site's words are not shown on this site


async def test_htmx_sends_the_token_as_a_header() -> None:
    app, fakes = portal()
    async with browser(app, LEAD_TOKEN) as client:  # the header, and no field in the form
        r = await client.post(
            "/questionnaires/q1/preview",
            data={"version": "1", "present": "camhs", "q.camhs": "yes"},
            headers={"hx-request": "true"},
        )
    assert r.status_code == 200 and 'name="q.camhs_tier"' in r.text
    assert saves(fakes) == []


async def test_a_browser_without_the_cookie_gets_one_with_the_refusal_and_can_try_again() -> None:
    app, _ = portal()
    async with browser(app, csrf_token=False) as client:
        client.cookies.clear()
        r = await client.post("/sign-in", data={**SIGN_IN, "csrf_token": "stale"})
        assert r.status_code == 403
        issued = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
        assert "HttpOnly" in issued and "Secure" in issued and "SameSite=lax" in issued
        page = await client.get("/sign-in")  # "open the page again"
        again = await client.post("/sign-in", data={**SIGN_IN, "csrf_token": token_on(page.text)})
    assert again.status_code == 303


async def test_the_password_is_never_shown_back() -> None:
    app, _ = portal()
    async with browser(app, csrf_token=False) as client:
        r = await client.post("/sign-in", data=SIGN_IN)
    assert r.status_code == 403
    assert "ann@pct.nhs.uk" in r.text  # what was typed, from this site's page
    assert "correct horse" not in r.text


async def test_signing_in_and_out_turns_over_the_token() -> None:
    app, _ = portal()
    async with browser(app, csrf_token=False) as client:
        anonymous = token_on((await client.get("/sign-in")).text)
        signed_in = await client.post("/sign-in", data={**SIGN_IN, "csrf_token": anonymous})
        assert signed_in.status_code == 303
        # The token of the page shown before signing in no longer works.
        stale = await client.post("/sign-out", data={"csrf_token": anonymous})
        assert stale.status_code == 403
        fresh = token_on((await client.get("/questionnaires/q1")).text)
        assert fresh != anonymous
        out = await client.post("/sign-out", data={"csrf_token": fresh})
        assert out.status_code == 303
        after = await client.post("/sign-in", data={**SIGN_IN, "csrf_token": fresh})
    assert after.status_code == 403


async def test_a_delegates_page_needs_the_token_before_any_session() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, csrf_token=False) as client:
        r = await client.post("/delegate/some-link-token", data={"version": "1"})
        hx = await client.post("/delegate/some-link-token/preview", data={"version": "1"})
    assert r.status_code == hx.status_code == 403
    assert "Your form could not be sent" in r.text


async def test_the_page_still_reads_the_form_the_check_read_first() -> None:
    """The check reads the body before the page does, urlencoded or multipart."""
    app, _ = portal()
    async with browser(app, csrf_token=False) as client:
        token = token_on((await client.get("/sign-in")).text)
        wrong = await client.post(
            "/sign-in", data={**SIGN_IN, "password": "nope", "csrf_token": token}
        )
        multipart = await client.post(  # (signing in turns the token over: this one last)
            "/sign-in",
            data={**SIGN_IN, "csrf_token": token},
            files={"unused": ("a.txt", b"x")},
        )
    assert multipart.status_code == 303  # the page saw the email and password
    assert wrong.status_code == 422 and 'value="ann@pct.nhs.uk"' in wrong.text
