"""Scheduling a bulletin in the portal over faked services: the date and time read as UK time
and sent as UTC, the form's errors (its own and the service's "in the future"), the check
page saying the recipients are worked out when it is sent, the list's scheduled row, and
sending early or cancelling after a confirmation."""

from __future__ import annotations

import html

import more_fakes
from portal_fakes import ADMIN_TOKEN, AUDITOR_TOKEN, browser, portal
from test_pages import summary_links

BULLETIN = {"subject": "Sign off", "body": "Please sign off.", "kinds": "pct"}


def later(day: str, month: str, year: str, time: str = "") -> dict[str, str]:
    return {
        "when": "later",
        "send_at-day": day,
        "send_at-month": month,
        "send_at-year": year,
        "send_at-time": time,
    }


async def test_a_bulletin_scheduled_in_uk_time_is_checked_then_scheduled() -> None:
    app, fakes = portal(**more_fakes.every())
    chosen = {**BULLETIN, "not_signed_off": "yes", **later("1", "6", "2010", "8:00")}
    async with browser(app, ADMIN_TOKEN) as client:
        form = await client.get("/national/bulletins/new")
        check = await client.post("/national/bulletins/new", data=chosen)
        previewed = fakes["notification"].state.calls[-1]
        r = await client.post("/national/bulletins/new", data={**chosen, "confirm": "yes"})
        listed = await client.get(r.headers["location"])
    assert 'name="send_at-day"' in form.text and "At a date and time" in form.text
    # 8:00 on 1 June is British Summer Time: 07:00 UTC.
    assert previewed[2]["send_at"] == "2010-06-01T07:00:00+00:00"
    page = html.unescape(check.text)
    assert "Check the bulletin before scheduling it" in page
    assert "It will be emailed on <strong>1 June 2010 at 8am</strong>" in page
    assert "whose 2009-10 return is not signed off yet" in page
    assert "return is signed off by then is left out" in page
    assert "Schedule it for 1 June 2010 at 8am" in page
    assert 'name="send_at-time" value="8:00"' in page and 'name="when" value="later"' in page
    method, path, body = fakes["notification"].state.calls[-1]
    assert (method, path) == ("POST", "/bulletins")
    assert body["send_at"] == "2010-06-01T07:00:00+00:00"
    assert body["filter"] == {
        "regions": [],
        "kinds": ["pct"],
        "organisation_ids": [],
        "not_signed_off_in": "2009-10",
    }
    assert r.headers["location"] == (
        "/national/bulletins?done=scheduled&at=2010-06-01T07%3A00%3A00%2B00%3A00"
    )
    assert "The bulletin is scheduled for 1 June 2010 at 8am." in html.unescape(listed.text)


async def test_the_date_and_time_are_checked_and_the_past_refused() -> None:
    app, fakes = portal(**more_fakes.every())
    cases = [
        (later("", "", ""), "Enter the date to send it, for example 28 2 2010"),
        (
            later("31", "2", "2010"),
            "The date to send it must be a real date, for example 28 2 2010",
        ),
        (later("1", "", "2010"), "The date to send it must include a month"),
        (
            later("1", "3", "2010", "25:00"),
            "The time to send it must be on the 24-hour clock, for example 17:00",
        ),
        # The service's clock decides what is past (the fake's is 1 February 2010).
        (later("1", "1", "2010", "9:00"), "The date and time to send it must be in the future"),
    ]
    async with browser(app, ADMIN_TOKEN) as client:
        for typed, message in cases:
            r = await client.post("/national/bulletins/new", data={**BULLETIN, **typed})
            assert r.status_code == 422, typed
            assert summary_links(r.text) == [("#send_at-day", message)], typed
            assert 'id="send_at-error"' in r.text
            # What was typed is kept, and "at a date and time" stays chosen.
            assert 'value="later" checked' in r.text
        # Without "later", the date boxes are ignored: sent now.
        now = await client.post(
            "/national/bulletins/new", data={**BULLETIN, **later("1", "1", "2000"), "when": "now"}
        )
    assert now.status_code == 200 and "Check the bulletin before sending it" in now.text
    assert all(c[1] != "/bulletins" for c in fakes["notification"].state.calls)


async def test_the_list_shows_a_scheduled_bulletin_and_its_rule() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        admin = html.unescape((await client.get("/national/bulletins")).text)
    async with browser(app, AUDITOR_TOKEN) as client:
        auditor = html.unescape((await client.get("/national/bulletins")).text)
    assert "Scheduled for 22 February 2010 at 8am" in admin
    # Names, not "user:a0": the reader's own bulletin is theirs.
    assert '<td class="govuk-table__cell">You (ada@dh.gov.uk)</td>' in admin
    assert '<td class="govuk-table__cell">Nia National</td>' in admin
    assert (
        "The leads of organisations of the kind Primary care trust and whose 2009-10 return "
        "is not signed off yet" in admin
    )
    assert "Decided when it is sent" in admin and "Not sent yet" in admin
    assert "when it is sent, not when it was scheduled" in admin
    assert 'href="/national/bulletins/b3/send"' in admin
    assert 'href="/national/bulletins/b3/cancel"' in admin
    assert "The leads of organisations in London" in admin and "10 sent" in admin
    # An auditor reads the list but changes nothing.
    assert "Scheduled for 22 February 2010 at 8am" in auditor
    assert "/national/bulletins/b3/cancel" not in auditor
    # An auditor reads every history, so is told who did it too; nobody is shown an id.
    assert '<td class="govuk-table__cell">Ada Admin</td>' in auditor
    assert "user:a0" not in auditor and "user:a0" not in admin


async def test_cancelling_and_sending_early_are_confirmed_first() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        ask_cancel = await client.get("/national/bulletins/b3/cancel")
        ask_send = await client.get("/national/bulletins/b3/send")
        calls_before = [
            c for c in fakes["notification"].state.calls if c[1].startswith("/bulletins/b")
        ]
        cancelled = await client.post("/national/bulletins/b3/cancel", data={})
        sent = await client.post("/national/bulletins/b3/send", data={})
        too_late = await client.post("/national/bulletins/b1/cancel", data={})
        unknown = await client.get("/national/bulletins/b3/delete")
    assert calls_before == []  # nothing changed by looking
    cancel_page = html.unescape(ask_cancel.text)
    assert "Cancel “Sign off by Friday”?" in cancel_page and "Yes, cancel it" in cancel_page
    assert "22 February 2010 at 8am" in cancel_page and "Nobody will be emailed" in cancel_page
    assert "Ada Admin" in cancel_page
    send_page = html.unescape(ask_send.text)
    assert "Send “Sign off by Friday” now?" in send_page
    assert "the leads who match now: <strong>3 mapping leads</strong>" in send_page
    assert cancelled.headers["location"] == "/national/bulletins?done=cancelled"
    assert sent.headers["location"] == "/national/bulletins?done=sent&recipients=7"
    assert [c[1] for c in fakes["notification"].state.calls if c[1].startswith("/bulletins/b")] == [
        "/bulletins/b3/cancel",
        "/bulletins/b3/send",
        "/bulletins/b1/cancel",
    ]
    assert too_late.status_code == 409
    assert "This bulletin has already been sent, 2 November 2009 at 9am" in too_late.text
    assert "It can no longer be cancelled" in too_late.text
    assert unknown.status_code == 404
