"""The national team's pages over faked services: cycles and their timetable, extensions
and reopenings, participation, reminders and bulletins."""

from __future__ import annotations

import more_fakes
from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, REGULATOR_TOKEN, browser, portal
from test_pages import summary_links


def _dates(**override: str) -> dict[str, str]:
    typed = {
        "sandbox_opens": ("1", "10", "2010", ""),
        "data_entry_opens": ("2", "11", "2010", "09:00"),
        "summary_reports": ("10", "1", "2011", ""),
        "data_entry_closes": ("28", "2", "2011", ""),
        "publication": ("1", "6", "2011", ""),
    }
    out: dict[str, str] = {}
    for name, (d, m, y, t) in typed.items():
        out |= {f"{name}-day": d, f"{name}-month": m, f"{name}-year": y, f"{name}-time": t}
    return out | override


async def test_scheduling_a_cycle_sends_uk_times_as_utc() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/new")
        assert 'name="data_entry_closes-day"' in page.text
        r = await client.post("/national/cycles/new", data={"cycle": "2010-11", **_dates()})
    assert (
        r.status_code == 303 and r.headers["location"] == "/national/cycles/2010-11?done=scheduled"
    )
    sent = fakes["questionnaire"].state.calls[0][2]
    assert sent["previous_cycle"] is None
    assert sent["timetable"] == {
        "sandbox_opens": "2010-09-30T23:00:00+00:00",  # midnight BST
        "data_entry_opens": "2010-11-02T09:00:00+00:00",
        "summary_reports": "2011-01-10T00:00:00+00:00",
        "data_entry_closes": "2011-02-28T17:00:00+00:00",  # the close's default time
        "publication": "2011-05-31T23:00:00+00:00",
    }


async def test_the_cycle_form_checks_dates_and_shows_the_services_refusals() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        bad = await client.post(
            "/national/cycles/new",
            data=_dates(
                **{
                    "summary_reports-day": "31",
                    "summary_reports-month": "2",
                    "publication-day": "",
                    "publication-month": "",
                    "publication-year": "",
                }
            ),
        )
        taken = await client.post("/national/cycles/new", data={"cycle": "2009-10", **_dates()})
        order = await client.post(
            "/national/cycles/new",
            data={"cycle": "2010-11", **_dates(**{"publication-year": "2010"})},
        )
    assert summary_links(bad.text) == [
        ("#cycle", "Enter the cycle, like 2009-10"),
        (
            "#summary_reports-day",
            "The date summary reports are sent must be a real date, for example 28 2 2010",
        ),
        ("#publication-day", "Enter the date results are published, for example 28 2 2010"),
    ]
    assert 'id="summary_reports-day-error"' not in bad.text  # one message per date input
    assert 'id="summary_reports-error"' in bad.text
    assert summary_links(taken.text) == [("#cycle", "Cycle 2009-10 is already scheduled")]
    # Out of order: said on the date that is too early, in words, before the service is asked.
    assert summary_links(order.text) == [
        ("#publication-day", "Results must be published after data entry closes")
    ]


async def test_changing_the_timetable_starts_from_the_cycles_dates() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/2009-10/timetable")
        assert 'name="data_entry_closes-time" type="text" value="17:00"' in page.text
        no_reason = await client.post(
            "/national/cycles/2009-10/timetable", data={"version": "3", **_dates()}
        )
        r = await client.post(
            "/national/cycles/2009-10/timetable",
            data={"version": "3", "reason": "Snow", **_dates()},
        )
    assert summary_links(no_reason.text) == [("#reason", "Enter why the timetable is changing")]
    assert r.headers["location"] == "/national/cycles/2009-10?done=timetable"
    sent = fakes["questionnaire"].state.calls[0][2]
    assert sent["version"] == 3 and sent["reason"] == "Snow"


async def test_moving_the_phase_needs_a_phase_and_a_reason() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        empty = await client.post("/national/cycles/2009-10/phase", data={})
        r = await client.post(
            "/national/cycles/2009-10/phase", data={"phase": "closed", "reason": "Early"}
        )
    assert [h for h, _ in summary_links(empty.text)] == ["#phase", "#reason"]
    assert r.headers["location"] == "/national/cycles/2009-10?done=phase"
    assert fakes["questionnaire"].state.calls[0][2] == {"phase": "closed", "reason": "Early"}


async def test_a_lead_cannot_reach_the_national_teams_forms() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        pages = [
            await client.get(p)
            for p in (
                "/national/cycles/new",
                "/national/cycles/2009-10/returns/5A4/extension",
                "/national/bulletins/new",
                "/national/cycles/2009-10/participation",
            )
        ]
    assert [p.status_code for p in pages] == [403, 403, 403, 403]
    assert all("You cannot see this page" in p.text for p in pages)


async def test_granting_an_extension() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/2009-10/returns/5A4/extension")
        assert "Extend 5A4&#39;s data entry" in page.text
        until = {"until-day": "14", "until-month": "3", "until-year": "2010"}
        early = {"until-day": "1", "until-month": "2", "until-year": "2010", "reason": "Flu"}
        too_early = await client.post("/national/cycles/2009-10/returns/5A4/extension", data=early)
        r = await client.post(
            "/national/cycles/2009-10/returns/5A4/extension", data={**until, "reason": "Flood"}
        )
    assert summary_links(too_early.text) == [
        ("#until-day", "Extended until: An extension ends after the close")
    ]
    assert r.headers["location"] == "/national/cycles/2009-10/participation?done=extended&org=5A4"
    assert fakes["questionnaire"].state.calls[-1][2] == {
        "reason": "Flood",
        "until": "2010-03-14T17:00:00+00:00",
    }


async def test_reopening_a_return_needs_a_reason() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        empty = await client.post("/national/cycles/2009-10/returns/5A4/reopen", data={})
        r = await client.post(
            "/national/cycles/2009-10/returns/5A4/reopen", data={"reason": "Error"}
        )
    assert summary_links(empty.text) == [("#reason", "Enter the reason for reopening the return")]
    assert r.status_code == 303
    assert fakes["questionnaire"].state.calls == [
        ("POST", "/cycles/2009-10/returns/5A4/reopen", {"reason": "Error"})
    ]


async def test_participation_by_region_and_organisation() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.get("/national/cycles/2009-10/participation?region=london")
    assert r.status_code == 200
    assert "0 of 1 organisations signed off" in r.text and "Anytown PCT" in r.text
    assert 'href="/national/cycles/2009-10/returns/5A4/extension"' in r.text
    assert "region=london" in fakes["reporting"].state.calls[0][1]


async def test_the_reminder_schedule() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/2009-10/reminders")
        assert 'value="28, 14, 7, 1"' in page.text and "Anytown PCT (14 days)" in page.text
        typo = await client.post(
            "/national/cycles/2009-10/reminders", data={"days_before": "28, x"}
        )
        far = await client.post("/national/cycles/2009-10/reminders", data={"days_before": "200"})
        r = await client.post("/national/cycles/2009-10/reminders", data={"days_before": "21 7,1"})
        unknown = await client.get("/national/cycles/2011-12/reminders")
    assert [h for h, _ in summary_links(typo.text)] == ["#days_before"]
    assert summary_links(far.text) == [
        (
            "#days_before",
            "Days before the close: Each offset is a whole number of days from 1 to 120",
        )
    ]
    assert r.headers["location"] == "/national/cycles/2009-10/reminders?done=saved"
    assert fakes["notification"].state.calls[-1][2] == {"days_before": [21, 7, 1]}
    assert unknown.status_code == 200 and "has not heard of 2011-12" in unknown.text


async def test_a_bulletin_with_filters() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        listed = await client.get("/national/bulletins")
        assert "The 2009-10 mapping opens" in listed.text and "10 sent" in listed.text
        empty = await client.post("/national/bulletins/new", data={})
        unknown = await client.post(
            "/national/bulletins/new",
            data={"subject": "Hi", "body": "Text", "organisations": "5a4, zzz"},
        )
        r = await client.post(
            "/national/bulletins/new",
            data={
                "subject": "Hi",
                "body": "Text",
                "regions": ["london", "north-west"],
                "kinds": "pct",
            },
        )
    assert [h for h, _ in summary_links(empty.text)] == ["#subject", "#body"]
    assert summary_links(unknown.text) == [
        ("#organisations", "Organisations: Unknown organisation(s) ZZZ")
    ]
    assert r.headers["location"] == "/national/bulletins?done=sent&recipients=3"
    assert fakes["notification"].state.calls[-1][2] == {
        "subject": "Hi",
        "body": "Text",
        "filter": {"regions": ["london", "north-west"], "kinds": ["pct"], "organisation_ids": []},
    }


async def test_the_notification_service_decides_who_reads_bulletins() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, REGULATOR_TOKEN) as client:
        r = await client.get("/national/bulletins")
    assert r.status_code == 403 and "your role does not allow this" in r.text


async def test_a_close_before_the_summary_reports_is_said_on_the_close() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/cycles/2009-10/timetable",
            data={"version": "3", "reason": "Snow", **_dates(**{"data_entry_closes-year": "2010"})},
        )
    assert summary_links(r.text) == [
        ("#data_entry_closes-day", "Data entry must close after summary reports are sent")
    ]
    assert 'id="data_entry_closes-error"' in r.text
    assert fakes["questionnaire"].state.calls == []  # nothing sent that would be refused
