"""The national team's pages over faked services: cycles and their timetable, extensions
and reopenings, participation, reminders and bulletins."""

from __future__ import annotations

import re

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


async def test_moving_the_phase_forward_after_a_confirmation() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/2009-10/phase")
        empty = await client.post("/national/cycles/2009-10/phase", data={})
        back = await client.post(
            "/national/cycles/2009-10/phase", data={"phase": "sandbox", "reason": "Oops"}
        )
        confirm = await client.post(
            "/national/cycles/2009-10/phase", data={"phase": "closed", "reason": "Early"}
        )
        asked = list(fakes["questionnaire"].state.calls)
        r = await client.post(
            "/national/cycles/2009-10/phase",
            data={"phase": "closed", "reason": "Early", "confirm": "yes"},
        )
    # The cycle is in data entry: only the phases after it are offered.
    assert 'value="summary-reports"' in page.text and 'value="closed"' in page.text
    assert 'value="sandbox"' not in page.text and 'value="data-entry"' not in page.text
    assert [h for h, _ in summary_links(empty.text)] == ["#phase", "#reason"]
    assert summary_links(back.text) == [("#phase", "Select a phase after the one the cycle is in")]
    # The confirmation says what happens and to whom, and nothing is sent before it.
    assert "Move the cycle from data entry to closed?" in confirm.text
    assert "Data entry closes for every organisation at once" in confirm.text
    assert "All 60 (15 signed off, 45 not yet)" in confirm.text
    assert 'name="confirm" value="yes"' in confirm.text and asked == []
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
        confirm = await client.post(
            "/national/cycles/2009-10/returns/5A4/reopen", data={"reason": "Error"}
        )
        asked = list(fakes["questionnaire"].state.calls)
        r = await client.post(
            "/national/cycles/2009-10/returns/5A4/reopen",
            data={"reason": "Error", "confirm": "yes"},
        )
    assert summary_links(empty.text) == [("#reason", "Enter the reason for reopening the return")]
    assert "Reopen 5A4's return?" in confirm.text and asked == []
    assert "mapping lead can change its answers again, and is sent an email" in confirm.text
    assert 'name="reason" value="Error"' in confirm.text
    assert r.status_code == 303
    assert fakes["questionnaire"].state.calls == [
        ("POST", "/cycles/2009-10/returns/5A4/reopen", {"reason": "Error"})
    ]


async def test_participation_a_page_at_a_time_with_counts_per_filter() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.get("/national/cycles/2009-10/participation")
        london = await client.get(
            "/national/cycles/2009-10/participation?region=london&status=overdue&sort=deadline"
            "&order=desc&page=1&q=+organisation+"
        )
        odd = await client.get("/national/cycles/2009-10/participation?region=mars&page=x")
    assert r.status_code == 200
    assert "15 of 60 organisations signed off" in r.text
    assert "Showing <strong>1</strong> to <strong>25</strong> of <strong>60</strong>" in r.text
    assert r.text.count('class="govuk-table__row"') == 26  # the header and 25 organisations
    # GOV.UK pagination: page 1 current, 2 and 3 linked, filters kept in each link.
    assert (
        'aria-current="page"' in r.text
        and 'href="/national/cycles/2009-10/participation?sort=name&amp;order=asc&amp;page=3"'
        in r.text
    )
    assert 'rel="next"' in r.text and 'rel="prev"' not in r.text
    # Sortable headers say how the table is sorted; the current one reverses.
    assert 'aria-sort="ascending"' in r.text and r.text.count('aria-sort="none"') == 4
    assert "sort=name&amp;order=desc" in r.text
    assert "<caption" in r.text and "sorted by organisation (ascending), page 1 of 3" in r.text
    # Counts beside each filter value and each status.
    assert "London (20)" in r.text and "Overdue (30)" in r.text and "Signed off: 15" in r.text
    assert 'href="/national/cycles/2009-10/participation/../../../' not in r.text
    assert 'href="/national/cycles/2009-10/participation.csv?sort=name&amp;order=asc"' in r.text
    assert 'href="/national/cycles/2009-10/returns/9Z00/extension"' in r.text

    sent = fakes["reporting"].state.calls[1][1]
    for part in (
        "region=london",
        "status=overdue",
        "sort=deadline",
        "order=desc",
        "q=organisation",
    ):
        assert part in sent, sent
    assert "Clear filters" in london.text and 'aria-sort="descending"' in london.text
    assert "London (9)" in london.text  # the region counts take the status and search
    # What no filter offers is dropped, not sent on; a bad page number is page one.
    assert odd.status_code == 200 and "region=" not in fakes["reporting"].state.calls[2][1]
    assert "page=1" in fakes["reporting"].state.calls[2][1]


async def test_participation_pages_and_the_download_keep_the_filters() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        last = await client.get("/national/cycles/2009-10/participation?kind=pct&page=1")
        beyond = await client.get("/national/cycles/2009-10/participation?page=9")
        csv = await client.get("/national/cycles/2009-10/participation.csv?kind=pct&page=2")
        none = await client.get("/national/cycles/2009-10/participation?q=nothing-like-it")
        auditor = await client.get("/national/cycles/2009-10/participation")
    assert "Showing <strong>1</strong> to <strong>20</strong> of <strong>20</strong>" in last.text
    assert "There is no page 9" in beyond.text and "Go to the last page" in beyond.text
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.text.count("\n") == 21  # the heading and every PCT, not one page
    assert "kind=pct" in fakes["reporting"].state.calls[2][1]
    assert "No organisations match." in none.text and "Download" not in none.text
    assert auditor.status_code == 200


async def test_the_reminder_schedule() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/cycles/2009-10/reminders")
        assert 'value="28, 14, 7, 1"' in page.text and "Anytown PCT (14 days)" in page.text
        # Who set it by name, not as the actor id the service keeps.
        assert "set by Nia National on 1 November 2009" in page.text and "user:" not in page.text
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
    chosen = {"subject": "Hi", "body": "Text", "regions": ["london", "north-west"], "kinds": "pct"}
    async with browser(app, ADMIN_TOKEN) as client:
        listed = await client.get("/national/bulletins")
        assert "The 2009-10 mapping opens" in listed.text and "10 sent" in listed.text
        assert "Nia National" in listed.text and "user:" not in listed.text
        empty = await client.post("/national/bulletins/new", data={})
        unknown = await client.post(
            "/national/bulletins/new",
            data={"subject": "Hi", "body": "Text", "organisations": "5a4, zzz"},
        )
        check = await client.post("/national/bulletins/new", data=chosen)
        previewed = list(fakes["notification"].state.calls)
        change = await client.post(
            "/national/bulletins/new", data={**chosen, "confirm": "yes", "change": "yes"}
        )
        r = await client.post("/national/bulletins/new", data={**chosen, "confirm": "yes"})
    assert [h for h, _ in summary_links(empty.text)] == ["#subject", "#body"]
    assert summary_links(unknown.text) == [
        ("#organisations", "Organisations: Unknown organisation(s) ZZZ")
    ]
    # The check page: the count, who, the email as it arrives; nothing sent yet.
    assert "It will be emailed to <strong>3 mapping leads</strong>" in check.text
    assert "in London, North West and of the kind Primary care trust" in check.text
    assert "Dear Lead 5A4," in check.text and "Send it to 3 mapping leads" in check.text
    assert all(c[1] == "/bulletins/preview" for c in previewed)
    assert 'name="regions" value="north-west"' in check.text
    # Changing it goes back to the form, filled in.
    assert 'value="Hi"' in change.text and "Continue" in change.text
    assert r.headers["location"] == "/national/bulletins?done=sent&recipients=3"
    assert fakes["notification"].state.calls[-1] == (
        "POST",
        "/bulletins",
        {
            "subject": "Hi",
            "body": "Text",
            "filter": {
                "regions": ["london", "north-west"],
                "kinds": ["pct"],
                "organisation_ids": [],
            },
        },
    )


async def test_a_bulletin_only_to_leads_not_signed_off() -> None:
    app, fakes = portal(**more_fakes.every())
    chosen = {"subject": "Hi", "body": "Text", "not_signed_off": "yes"}
    async with browser(app, ADMIN_TOKEN) as client:
        form = await client.get("/national/bulletins/new")
        check = await client.post("/national/bulletins/new", data=chosen)
        await client.post("/national/bulletins/new", data={**chosen, "confirm": "yes"})
    assert "Only leads whose 2009-10 return is not signed off yet" in form.text
    assert "whose 2009-10 return is not signed off yet" in check.text
    assert 'name="not_signed_off" value="yes"' in check.text
    method, path, body = fakes["notification"].state.calls[-1]
    assert (method, path) == ("POST", "/bulletins")
    assert body["filter"]["not_signed_off_in"] == "2009-10"


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


async def test_adding_and_disabling_national_accounts() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        listed = await client.get("/national/accounts")
        empty = await client.post("/national/accounts/new", data={"email": "x"})
        taken = await client.post(
            "/national/accounts/new",
            data={"name": "Ann", "email": "aud@audit.example", "role": "regulator"},
        )
        added = await client.post(
            "/national/accounts/new",
            data={"name": "Rita Regulator", "email": "rita@cqc.example", "role": "regulator"},
        )
        after = await client.get(added.headers["location"])
        confirm = await client.get("/national/accounts/a4/disable")
        no_reason = await client.post("/national/accounts/a4/disable", data={})
        disabled = await client.post("/national/accounts/a4/disable", data={"reason": "Left"})
        own = await client.get("/national/accounts/a0/disable")
        unknown = await client.get("/national/accounts/zz/disable")
    assert "Alan Auditor" in listed.text and "Ada Admin (you)" in listed.text
    assert 'href="/national/accounts/a4/disable"' in listed.text
    assert 'href="/national/accounts/a0/disable"' not in listed.text  # not one's own
    assert [h for h, _ in summary_links(empty.text)] == ["#name", "#email", "#role"]
    assert summary_links(taken.text) == [
        ("#email", "Email address: An account with this email address already exists")
    ]
    assert added.status_code == 303
    assert "A link to set their password is on its way" in after.text
    assert "Rita Regulator" in after.text and "Set-up link sent" in after.text
    assert "will not be able to sign in again" in confirm.text and "Alan Auditor" in confirm.text
    assert summary_links(no_reason.text) == [("#reason", "Enter why the account is being disabled")]
    assert disabled.headers["location"] == "/national/accounts?done=disabled&who=aud@audit.example"
    assert fakes["registration"].state.calls[-1] == (
        "POST",
        "/accounts/a4/disable",
        {"reason": "Left"},
    )
    assert (
        "You cannot disable your own account" in own.text
        and "<form" not in own.text.split("<main")[1]
    )
    assert unknown.status_code == 404


async def test_only_national_admins_manage_accounts() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, REGULATOR_TOKEN) as client:
        r = await client.get("/national/accounts")
    assert r.status_code == 403


async def test_the_organisations_list_filters_and_pages() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        first = await client.get("/national/organisations?kind=pct&region=mars")
        second = await client.get("/national/organisations?kind=pct&after=R099")
    assert "60 organisations (Primary care trust)." in first.text
    assert first.text.count("/national/organisations/R") == 50
    # The next page keeps the filter; an unknown region is dropped, not sent on.
    assert 'href="/national/organisations?kind=pct&amp;after=R099"' in first.text
    assert "region=mars" not in fakes["registration"].state.calls[0][1]
    assert 'rel="prev"' not in first.text and "First page" not in first.text
    assert second.text.count("/national/organisations/R") == 10
    # The second page goes back a page (from its first code) and to the start.
    back = 'href="/national/organisations?kind=pct&amp;before=R101"'
    assert 'rel="prev"' in second.text and back in second.text
    assert "First page" in second.text and 'href="/national/organisations?kind=pct"' in second.text
    assert 'rel="next"' not in second.text
    async with browser(app, ADMIN_TOKEN) as client:
        again = await client.get("/national/organisations?kind=pct&before=R101")
    assert again.text.count("/national/organisations/R") == 50
    assert "before=R101" in fakes["registration"].state.calls[-1][1]
    assert 'href="/national/organisations?kind=pct&amp;after=R099"' in again.text
    assert 'rel="prev"' not in again.text


async def test_the_delivery_log_filters_and_pages() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        first = await client.get("/national/notifications")
        failed = await client.get("/national/notifications?status=failed&kind=deadline-reminder")
        nobody = await client.get("/national/notifications?recipient=nobody@example.org")
    assert first.text.count("Email ") == 50 and 'rel="next"' in first.text
    assert "before=n071" in first.text
    assert "status=failed" in fakes["notification"].state.calls[1][1]
    assert failed.text.count("Email ") == 12 and 'rel="next"' not in failed.text
    assert 'rel="prev"' not in first.text
    async with browser(app, ADMIN_TOKEN) as client:
        second = await client.get("/national/notifications?before=n071")
        back = await client.get("/national/notifications?after=n070")
    # The second page goes back from its newest email, and the way back is the first page.
    assert 'rel="prev"' in second.text
    assert 'href="/national/notifications?after=n070"' in second.text
    assert "First page" in second.text and 'href="/national/notifications"' in second.text
    assert back.text.count("Email ") == 50 and "Email 120" in back.text
    assert 'rel="prev"' not in back.text and "before=n071" in back.text
    assert "No emails match the filters." in nobody.text


GOOD_FILE = (
    "\ufeffCode,Name,Kind,Region,Lead name,Lead email\r\n"
    "9A1,Anytown PCT,pct,london,Ann Lead,ann@pct.example\r\n"
    "\r\n"
    '9A2,"Northby, Council",local-authority,north-east,Bob Lead,bob@refused.example\r\n'
)


async def test_registering_organisations_from_a_file() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        page = await client.get("/national/organisations/import")
        template = await client.get("/national/organisations/import/template.csv")
        none = await client.post("/national/organisations/import", data={})
        preview = await client.post(
            "/national/organisations/import",
            files={"file": ("orgs.csv", GOOD_FILE.encode(), "text/csv")},
        )
        nothing_yet = list(fakes["registration"].state.imported)
        done = await client.post(
            "/national/organisations/import/confirm",
            data={"content": GOOD_FILE, "filename": "orgs.csv"},
        )
    assert "lead_email" in page.text and 'enctype="multipart/form-data"' in page.text
    assert template.headers["content-type"].startswith("text/csv")
    assert template.text.startswith("code,name,kind,region,") and "lead_email" in template.text
    assert none.status_code == 422 and "Select a CSV file" in none.text
    assert preview.status_code == 200 and "Register 2 organisations?" in preview.text
    assert "Northby, Council" in preview.text and nothing_yet == []
    assert fakes["registration"].state.imported == ["9A1", "9A2"]
    assert "1 mapping lead emailed a set-up link" in done.text
    # The lead the service refused is listed, with its reason.
    assert "9A2</a>: not an address we send to" in done.text
    # Every lead in one request, not one request each.
    [sent] = [c for c in fakes["registration"].state.calls if c[1] == "/organisations/leads"]
    assert [w["email"] for w in sent[2]["leads"]] == ["ann@pct.example", "bob@refused.example"]
    assert not [c for c in fakes["registration"].state.calls if c[0] == "PUT"]


async def test_a_file_with_problems_lists_every_line_and_saves_nothing() -> None:
    bad = (
        "code,name,kind,region,lead_name,lead_email\n"
        "9B1,One,pct,london,Ann,not-an-email\n"
        "\n"
        "9B2,Two,castle,london,,b@x.example\n"
    )
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/organisations/import",
            files={"file": ("bad.csv", bad.encode(), "text/csv")},
        )
        header = await client.post(
            "/national/organisations/import",
            files={"file": ("x.csv", b"code,name,colour\n1,2,3\n", "text/csv")},
        )
        latin = await client.post(
            "/national/organisations/import",
            files={"file": ("x.csv", "code,name\nCaf\xe9".encode("latin-1"), "text/csv")},
        )
    assert r.status_code == 422 and "nothing has been saved" in r.text
    cell = '</td><td class="govuk-table__cell[^"]*">'
    rows = re.findall(r'numeric">(\d+)' + cell + r"(\w+)" + cell + "([^<]+)<", r.text)
    assert [(line, field) for line, field, _ in rows] == [
        ("2", "lead_email"),
        ("4", "kind"),  # registration's line 3 is the file's line 4 (after a blank line)
        ("4", "lead_name"),
    ]
    assert fakes["registration"].state.imported == []
    assert "colour" in header.text and "Not a column of the template" in header.text
    assert "This column is missing" in header.text
    assert "CSV UTF-8" in latin.text and latin.status_code == 422


async def test_a_confirmation_carries_a_file_larger_than_a_megabyte() -> None:
    """The checked file comes back in a form field: Starlette's 1 MB field limit refused
    files of some 9,000 organisations (400) although the page takes 5 MB."""
    rows = "".join(
        f"9C{i % 10},Organisation {i:05d} with a name as long as a real NHS trust's,pct,london,"
        f"Ann Lead,ann{i}@pct.example\r\n"
        for i in range(11_000)
    )
    content = (
        "code,name,kind,region,lead_name,lead_email\r\n"
        + rows
        + "9D1,Odd,castle,london,A,a@b.org\r\n"
    )
    assert len(content.encode()) > 1024 * 1024
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/organisations/import/confirm", data={"content": content, "filename": "x.csv"}
        )
    # Read and checked: the one bad row (the fake's import refuses the kind) is listed.
    assert r.status_code == 422, r.text[:500]
    assert "The file has problems" in r.text and "11002" in r.text
    assert fakes["registration"].state.imported == []
