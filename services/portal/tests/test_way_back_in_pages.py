"""The sign-in pages' way back in, over a faked registration service: the links from the
sign-in page, asking for a link (the same page whatever the address), a link that does not
work said before any password is typed (and who to ask), and a kept form sealed so that only
the portal can read it, for a short while. (tests/e2e drive them in Chromium against the real
services.)"""

from __future__ import annotations

import base64
import json
import re

from portal_fakes import browser, portal
from starlette.requests import Request

from portal.entrypoints.web import kept_forms


async def test_the_sign_in_page_offers_a_way_back_in() -> None:
    app, _ = portal()
    async with browser(app) as client:
        page = await client.get("/sign-in")
    assert 'href="/forgotten-password">Forgot your password?</a>' in page.text
    assert 'href="/set-up-link">Your set-up link expired or was lost?</a>' in page.text


async def test_the_sign_in_page_says_why_when_the_session_ended() -> None:
    app, _ = portal()
    async with browser(app) as client:
        page = await client.get("/sign-in?reason=session-ended")
        plain = await client.get("/sign-in?reason=anything-else")
    assert "You were signed out because your session ended" in page.text
    assert "12 hours after you sign in" in page.text
    assert "session ended" not in plain.text


async def test_asking_for_a_link_answers_the_same_for_any_address() -> None:
    app, _ = portal()
    async with browser(app) as client:
        for path in ("/forgotten-password", "/set-up-link"):
            form = await client.get(path)
            assert form.status_code == 200 and 'name="email"' in form.text
            sent = await client.post(path, data={"email": "anyone@pct.nhs.uk"})
            assert sent.status_code == 200
            assert "Check your email" in sent.text
            assert "If <strong>anyone@pct.nhs.uk</strong> has an account" in sent.text
        empty = await client.post("/forgotten-password", data={"email": ""})
        busy = await client.post("/forgotten-password", data={"email": "busy@pct.nhs.uk"})
    assert empty.status_code == 422 and "Enter your email address" in empty.text
    assert busy.status_code == 429 and "too many links" in busy.text


async def test_a_link_that_does_not_work_says_so_before_a_password_is_typed() -> None:
    app, _ = portal()
    async with browser(app) as client:
        used = await client.get("/account/set-up?token=used")
        expired = await client.get("/account/reset-password?token=expired")
        newer = await client.get("/account/set-up?token=superseded")
        owner = await client.get("/account/set-up?token=owner-used")
        usable = await client.get("/account/reset-password?token=t")
    assert used.status_code == 410 and "This link has already been used" in used.text
    assert 'name="password"' not in used.text
    assert "mapping-team@example.gov.uk" in used.text
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert 'href="/forgotten-password">Get a new link</a>' in expired.text
    assert "A newer link has been sent" in newer.text
    assert 'href="/set-up-link">get a new link</a>' in newer.text
    assert "Ask your organisation's mapping lead" in owner.text
    assert usable.status_code == 200 and 'name="password"' in usable.text


async def test_a_reset_checks_the_password_then_sends_the_person_to_sign_in() -> None:
    app, _ = portal()
    async with browser(app) as client:
        short = await client.post(
            "/account/reset-password", data={"token": "t", "password": "short", "confirm": "short"}
        )
        done = await client.post(
            "/account/reset-password",
            data={
                "token": "t",
                "password": "a long new passphrase",
                "confirm": "a long new passphrase",
            },
        )
    assert short.status_code == 422 and "12 characters or more" in short.text
    assert done.status_code == 303 and done.headers["location"] == "/sign-in?done=password-reset"


def _request(path: str = "/questionnaires/q1") -> Request:
    app, _ = portal()
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": [],
            "app": app,
        }
    )


def test_a_kept_form_is_sealed_and_bound_to_its_account() -> None:
    request = _request()
    fields = [("answer_camhs", "yes"), ("note", "caseload 150")]
    sealed = kept_forms.seal(request, "a1", fields, "/questionnaires/q1")
    assert sealed is not None
    assert "caseload" not in sealed and not re.search(r"a1\b", sealed)
    kept = kept_forms.unseal(request, sealed)
    assert kept == kept_forms.KeptForm("/questionnaires/q1", "a1", fields, "/questionnaires/q1")
    # Tampered with, it is nothing.
    assert kept_forms.unseal(request, sealed[:-4] + "AAAA") is None
    assert kept_forms.unseal(request, "not-a-seal") is None


def test_a_kept_form_expires(monkeypatch) -> None:
    request = _request()
    sealed = kept_forms.seal(request, "a1", [("x", "1")], "/")
    assert sealed is not None
    monkeypatch.setattr(kept_forms, "KEEP_FOR", kept_forms.timedelta(seconds=-1))
    assert kept_forms.unseal(request, sealed) is None


def _ended_token(sub: str) -> str:
    """An access token of a session that has ended (no service accepts it)."""

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'EdDSA'})}.{part({'sub': sub, 'sid': 'ended'})}.c2ln"


async def test_a_form_sent_after_the_session_ended_is_kept_for_its_account_only() -> None:
    app, _ = portal()
    token = _ended_token("someone-else")
    async with browser(app, token) as client:
        client.cookies.set("csm_refresh", "spent", domain="portal.test")
        sent = await client.post("/questionnaires/q1", data={"camhs": "yes", "note": "150"})
        assert sent.status_code == 200
        assert "not been saved yet" in sent.text
        kept = re.search(r'name="kept" value="([^"]+)"', sent.text)
        assert kept and "150" not in kept.group(1)
        # The sign-in form's own token (for no session: the ended one's cookies are gone).
        page_token = re.search(r'name="csrf_token" value="([^"]+)"', sent.text)
        assert page_token
        # The fake registration signs everyone in as another account: what was kept is
        # dropped unread, and the person goes on to the page as after any sign-in.
        signed_in = await client.post(
            "/sign-in",
            data={
                "email": "ann@pct.nhs.uk",
                "password": "correct horse battery staple",
                "next": "/questionnaires/q1",
                "kept": kept.group(1),
            },
            headers={"x-csrf-token": page_token.group(1)},
        )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/questionnaires/q1"


async def test_htmx_re_renders_and_unknown_sessions_are_sent_to_sign_in() -> None:
    app, _ = portal()
    async with browser(app, _ended_token("a1")) as client:
        client.cookies.set("csm_refresh", "spent", domain="portal.test")
        htmx = await client.post(
            "/questionnaires/q1/preview", data={"camhs": "yes"}, headers={"hx-request": "true"}
        )
    assert htmx.status_code == 303
    assert "reason=session-ended" in htmx.headers["location"]
