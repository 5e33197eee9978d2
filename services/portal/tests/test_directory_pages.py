"""Service groups, the carry-forward review and a questionnaire's submission and history,
over faked services and without JavaScript."""

from __future__ import annotations

import more_fakes
import pytest
from more_fakes import SERVICE_ID
from portal_fakes import (
    ADMIN_TOKEN,
    AUDITOR_TOKEN,
    LEAD_TOKEN,
    OWNER_TOKEN,
    REGULATOR_TOKEN,
    browser,
    portal,
)
from test_pages import summary_links

GROUP = {"name": "South", "kind": "locality", "owner_name": "Olu Owner"}


async def test_a_lead_defines_a_group_and_names_its_owner() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        listed = await client.get("/groups")
        assert "North locality" in listed.text and 'href="/groups/new"' in listed.text
        r = await client.post("/groups/new", data={**GROUP, "owner_email": "olu@pct.nhs.uk"})
        assert r.status_code == 303 and r.headers["location"] == "/groups?done=defined"
    assert fakes["registration"].state.calls == [
        (
            "POST",
            "/organisations/5A4/groups",
            {
                "name": "South",
                "kind": "locality",
                "owner": {"name": "Olu Owner", "email": "olu@pct.nhs.uk"},
            },
        ),
    ]


async def test_the_group_form_lists_what_is_missing_and_the_services_refusal() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        empty = await client.post("/groups/new", data={})
        refused = await client.post("/groups/new", data={**GROUP, "owner_email": "olu"})
    assert [h for h, _ in summary_links(empty.text)] == [
        "#name",
        "#kind",
        "#owner_name",
        "#owner_email",
    ]
    assert refused.status_code == 422
    assert summary_links(refused.text) == [
        ("#owner_email", "Owner&#39;s email address: Not an email")
    ]
    assert 'value="Olu Owner"' in refused.text


async def test_a_group_owner_cannot_define_a_group() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, OWNER_TOKEN) as client:
        listed = await client.get("/groups")
        r = await client.get("/groups/new")
    assert listed.status_code == 200 and 'href="/groups/new"' not in listed.text
    assert r.status_code == 403 and "You cannot see this page" in r.text


async def test_the_national_team_defines_a_group_for_an_organisation() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/organisations/5A4/groups/new", data={**GROUP, "owner_email": "o@p.uk"}
        )
    assert r.headers["location"] == "/national/organisations/5A4/groups?done=defined"
    assert fakes["registration"].state.calls[0][1] == "/organisations/5A4/groups"


async def test_carried_forward_services_are_listed_to_check() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        services = await client.get("/services")
        review = await client.get("/services/review")
        one = await client.get(f"/services/{SERVICE_ID}")
    assert "1 service carried forward from last year to be checked" in services.text
    assert f'href="/services/{SERVICE_ID}"' in review.text
    assert "Changed since 2008-09" in one.text
    assert "old@pct.nhs.uk" in one.text and "Contact email address" in one.text
    assert f'action="/services/{SERVICE_ID}/confirm"' in one.text


async def test_confirming_sends_the_version_read_and_a_stale_one_says_so() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        ok = await client.post(f"/services/{SERVICE_ID}/confirm", data={"version": "2"})
        stale = await client.post(f"/services/{SERVICE_ID}/confirm", data={"version": "1"})
    assert ok.status_code == 303 and ok.headers["location"].endswith("?done=confirmed")
    assert fakes["registration"].state.calls[0][2] == {"expected_version": 2}
    assert stale.status_code == 409
    assert "Someone else changed this service" in stale.text


async def test_revising_sends_only_what_changed() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        form = await client.get(f"/services/{SERVICE_ID}/revise")
        assert 'value="Riverside CAMHS"' in form.text and "old@pct.nhs.uk" in form.text
        shown = {
            "name": "Riverside CAMHS",
            "description": "Tier 3 team",
            "service_type": "specialist",
            "age_min": "0",
            "age_max": "18",
            "camhs": "yes",
            "camhs_tier": "3",
            "contact_name": "Sam Manager",
            "contact_email": "sam@pct.nhs.uk",
            "version": "2",
        }
        unchanged = await client.post(f"/services/{SERVICE_ID}/revise", data=shown)
        r = await client.post(
            f"/services/{SERVICE_ID}/revise", data={**shown, "age_max": "19", "camhs": "no"}
        )
        refused = await client.post(
            f"/services/{SERVICE_ID}/revise", data={**shown, "age_max": "30"}
        )
    assert unchanged.status_code == 422 and "You have not changed anything" in unchanged.text
    assert r.status_code == 303 and r.headers["location"].endswith("?done=revised")
    assert fakes["registration"].state.calls[0][2] == {
        "expected_version": 2,
        "client_group": {"age_max": 19},
        "camhs": False,
        "camhs_tier": None,
    }
    assert summary_links(refused.text) == [("#age_max", "Oldest age: At most 25")]


async def test_withdrawing_needs_a_reason() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        empty = await client.post(f"/services/{SERVICE_ID}/withdraw", data={"version": "2"})
        r = await client.post(
            f"/services/{SERVICE_ID}/withdraw", data={"version": "2", "reason": "It closed"}
        )
        unknown = await client.get("/services/not-a-service")
    assert summary_links(empty.text) == [("#reason", "Enter why the service is being withdrawn")]
    assert r.headers["location"] == "/services?done=withdrawn"
    assert fakes["registration"].state.calls == [
        (
            "POST",
            f"/directory/services/{SERVICE_ID}/withdraw",
            {"expected_version": 2, "reason": "It closed"},
        ),
    ]
    assert unknown.status_code == 404


@pytest.mark.parametrize("token", [LEAD_TOKEN, ADMIN_TOKEN, AUDITOR_TOKEN])
async def test_a_questionnaires_history_names_its_questions(token: str) -> None:
    # Auditors read every history (issue #21): they were shown "You cannot see this page".
    app, _ = portal(**more_fakes.every())
    async with browser(app, token) as client:
        r = await client.get("/questionnaires/q1/history")
    assert r.status_code == 200
    assert "Answers saved" in r.text and "Is it a CAMHS service?: no answer" in r.text
    assert "3 November 2009 at 10:30am" in r.text
    # People by name or email, never an account or link id (issue #18): the national team
    # and auditors know everyone; a lead knows where a national admin belongs, not who.
    assert "Ann Lead" in r.text and "sam@pct.nhs.uk" in r.text
    national = "Nia National" if token in (ADMIN_TOKEN, AUDITOR_TOKEN) else "Someone in the"
    assert national in r.text
    assert "Someone whose account is not on record" in r.text  # an id registration never knew
    assert "user:" not in r.text and "delegate:" not in r.text and "acct-" not in r.text
    assert "True" not in r.text and "Yes → <strong>No</strong>" in r.text


async def test_a_regulator_is_not_shown_a_questionnaires_history() -> None:
    app, _ = portal(**more_fakes.every())
    async with browser(app, REGULATOR_TOKEN) as client:
        r = await client.get("/questionnaires/q1/history")
    assert r.status_code == 403


async def test_taking_a_submission_back_needs_a_reason() -> None:
    app, fakes = portal(**more_fakes.every())
    async with browser(app, LEAD_TOKEN) as client:
        empty = await client.post("/questionnaires/q1/withdraw-submission", data={})
        r = await client.post("/questionnaires/q1/withdraw-submission", data={"reason": "Typo"})
    assert summary_links(empty.text) == [
        ("#reason", "Enter why the submission is being taken back")
    ]
    assert r.headers["location"] == "/questionnaires/q1?done=withdrawn"
    assert fakes["questionnaire"].state.calls == [
        ("POST", "/questionnaires/q1/withdraw-submission", {"reason": "Typo"})
    ]
