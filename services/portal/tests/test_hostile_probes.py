"""What the hostile-input suite (tests/hostile) found in the portal, kept as probes: a page's
path parameter with a character no URL path holds, a delegate link that cannot be a token,
and numbers typed as no whole number is typed were each a 500."""

from __future__ import annotations

import more_fakes
import pytest
from more_fakes import SERVICE_ID
from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, browser, portal

from portal.application.answers import answer_from_form

#: Not whole numbers, though `str.isdigit` says so of the first and int() takes no such length.
ODD_NUMBERS = ["\u00b2", "1" * 5000, "--5", "seven"]


async def test_a_path_parameter_reaches_the_service_as_one_path_segment() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        # `2009-10?x` is not the 2009-10 cycle with a query string: no such cycle.
        assert (await client.get("/national/cycles/2009-10%3Fx")).status_code == 404
        assert (await client.get("/national/cycles/2009-10%23x")).status_code == 404
        # Control characters cannot go into a URL as they are: they went, and were a 500.
        assert (await client.get("/national/cycles/%0D2009-10")).status_code == 404
        assert (await client.get("/national/organisations/5A4%0A/groups")).status_code == 200


@pytest.mark.parametrize("token", ["%C3%A9t%C3%A9.x.y", "a.b.%E2%80%AE"])
async def test_a_delegate_link_that_cannot_be_a_token_is_not_found(token: str) -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app) as client:
        assert (await client.get(f"/delegate/{token}")).status_code == 404
        assert (await client.post(f"/delegate/{token}", data={"version": "1"})).status_code == 404


@pytest.mark.parametrize("version", ODD_NUMBERS)
async def test_an_odd_version_in_a_form_is_a_stale_form_not_an_error(version: str) -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        r = await client.post(f"/services/{SERVICE_ID}/confirm", data={"version": version})
        assert r.status_code == 409 and "Someone else changed this service" in r.text
        assert fakes["registration"].state.calls[-1][2] == {"expected_version": 0}
        r = await client.post(
            f"/services/{SERVICE_ID}/withdraw", data={"version": version, "reason": "merged"}
        )
        assert r.status_code < 500
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/cycles/2009-10/timetable",
            data={
                "version": version,
                "reason": "late data",
                **{
                    f"{f}-{p}": v
                    for f in (
                        "sandbox_opens",
                        "data_entry_opens",
                        "summary_reports",
                        "data_entry_closes",
                        "publication",
                    )
                    for p, v in (("day", "1"), ("month", "1"), ("year", "2010"))
                },
            },
        )
        assert r.status_code < 500


@pytest.mark.parametrize("typed", ["\u00b2", "7, " + "1" * 5000])
async def test_reminder_days_that_are_no_whole_numbers_are_a_form_error(typed: str) -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post("/national/cycles/2009-10/reminders", data={"days_before": typed})
    assert r.status_code == 422 and "Enter whole numbers of days" in r.text


@pytest.mark.parametrize("typed", ODD_NUMBERS)
def test_an_answer_that_is_no_whole_number_goes_to_the_service_as_typed(typed: str) -> None:
    # The questionnaire service names what is wrong with it, on the form.
    assert answer_from_form({"q.n": typed}, {"id": "n", "type": "integer"}) == typed
    scored = answer_from_form({"q.s": typed}, {"id": "s", "type": "scored_scale"})
    assert scored == {"score": typed, "evidence": None}
