"""Small things issue #18 found wrong: "Add a service" after sign-off, a group owner's counts
that did not match their list, and the sign-off confirmation showing its own HTML tags."""

from __future__ import annotations

import re

import more_fakes
from portal_fakes import LEAD_TOKEN, OWNER_TOKEN, browser, portal


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_no_add_a_service_once_the_return_is_signed_off() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        before = await client.get("/services")
        assert 'href="/services/new"' in before.text
        fakes["questionnaire"].state.signed_off_at = "2010-02-20T10:00:00+00:00"
        listed = await client.get("/services")
        dashboard = await client.get("/returns/2009-10")
        form = await client.get("/services/new")
        posted = await client.post("/services/new", data={"name": "Late"})
    assert listed.status_code == 200 and 'href="/services/new"' not in listed.text
    assert "was signed off on 20 February 2010 at 10am" in listed.text
    assert 'href="/services/new"' not in dashboard.text
    assert form.status_code == 409 and "ask the national mapping team to reopen" in form.text
    assert posted.status_code == 409
    assert not [c for c in fakes["registration"].state.calls if c[1] == "/directory/services"]


async def test_a_group_owner_counts_what_they_are_shown() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, OWNER_TOKEN) as client:
        owner = _text((await client.get("/returns/2009-10")).text)
    async with browser(app, LEAD_TOKEN) as client:
        lead = _text((await client.get("/returns/2009-10")).text)
    # The organisation has 3; the owner's group 1, submitted, and that is what they read.
    assert "1 issued, 1 submitted, 0 still to do" in owner
    assert "Service: Riverside" in owner and "Service: Hillside" not in owner
    assert "3 issued, 1 submitted, 2 still to do" in lead


async def test_the_sign_off_confirmation_shows_no_html_tags() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post("/returns/2009-10/sign-off", data={"confirm": "yes"})
    assert r.status_code == 200, r.text
    assert "&lt;strong&gt;" not in r.text
    assert "<strong>Riverside Primary Care Trust</strong>" in r.text  # by name, not its code


async def test_nothing_the_services_would_refuse_is_offered_after_sign_off() -> None:
    """Revise, withdraw or confirm a service; take a submission back; delegate: once the
    return is signed off each says why not and who can reopen it, and refuses with a 409."""
    app, fakes = portal(**more_fakes.every())
    service = f"/services/{more_fakes.SERVICE_ID}"
    async with browser(app, LEAD_TOKEN) as client:
        before = await client.get(service)
        assert f'href="{service}/revise"' in before.text
        fakes["questionnaire"].state.signed_off_at = "2010-02-20T10:00:00+00:00"
        page = await client.get(service)
        refused = [
            await client.get(f"{service}/revise"),
            await client.get(f"{service}/withdraw"),
            await client.post(f"{service}/withdraw", data={"version": "2", "reason": "x"}),
            await client.post(f"{service}/revise", data={"version": "2", "name": "New"}),
            await client.post(f"{service}/confirm", data={"version": "2"}),
            await client.get("/questionnaires/q1/withdraw-submission"),
            await client.post("/questionnaires/q1/withdraw-submission", data={"reason": "x"}),
        ]
        questionnaire = await client.get("/questionnaires/q1")
        delegate = await client.get("/questionnaires/q1/delegate")
    shown = _text(page.text)
    assert f'href="{service}/revise"' not in page.text
    assert f'href="{service}/withdraw"' not in page.text
    assert "was signed off on 20 February 2010 at 10am" in shown
    assert "ask the national mapping team to reopen the return" in shown
    assert [r.status_code for r in refused] == [409] * len(refused)
    assert all("national mapping team to reopen" in _text(r.text) for r in refused)
    assert not [c for c in fakes["registration"].state.calls if c[1].startswith(service)]
    assert "withdraw-submission" not in questionnaire.text
    assert "cannot be changed, taken back or handed to someone else" in _text(questionnaire.text)
    assert 'id="email"' not in delegate.text and "was signed off" in _text(delegate.text)
