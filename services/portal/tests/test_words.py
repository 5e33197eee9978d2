"""The words pages show for the services' values: GOV.UK dates, times, numbers and money,
Yes and No, proper names for kinds and regions, and people rather than account ids."""

from __future__ import annotations

from portal.application.dates import gov_date, gov_datetime, gov_time
from portal.application.history import actor_ids, actor_name, history_rows, people
from portal.application.models import Delegation, Person
from portal.application.numbers import money, thousands
from portal.application.words import kind_name, label, region_name, yes_no


def test_dates_and_times_as_govuk_writes_them_in_london() -> None:
    # 08:14 UTC in December is 8:14am in London; in June, 9:14am (BST).
    assert gov_datetime("2026-12-06T08:14:00+00:00") == "6 December 2026 at 8:14am"
    assert gov_datetime("2026-06-06T08:14:00+00:00") == "6 June 2026 at 9:14am"
    assert gov_datetime("2026-06-06T16:00:00+00:00") == "6 June 2026 at 5pm"
    assert gov_datetime("2026-12-06T12:00:00+00:00") == "6 December 2026 at midday"
    # Midnight London time: a date typed without a time, shown as the date alone.
    assert gov_datetime("2026-06-05T23:00:00+00:00") == "6 June 2026"
    assert gov_date("2026-12-06T08:14:00+00:00") == "6 December 2026"
    assert gov_date("2026-02-28") == "28 February 2026"
    assert gov_datetime(None) == "" and gov_datetime("soon") == "soon"
    # An email's Date header (the mailbox page).
    assert gov_datetime("Sun, 06 Dec 2026 16:39:12 +0000") == "6 December 2026 at 4:39pm"


def test_times_on_the_twelve_hour_clock() -> None:
    from datetime import datetime

    assert [gov_time(datetime(2026, 1, 1, h, m)) for h, m in ((0, 0), (0, 5), (13, 30))] == [
        "midnight",
        "12:05am",
        "1:30pm",
    ]


def test_numbers_and_money_with_thousands_separators() -> None:
    assert thousands(760000) == "760,000"
    assert thousands("1234567") == "1,234,567"
    assert thousands(2.5) == "2.5"
    assert thousands(None) == "" and thousands("many") == "many"
    assert money(760000) == "£760,000"
    assert money("12.5") == "£12.50"
    assert money(-1500) == "-£1,500"


def test_yes_no_and_codes_as_words() -> None:
    assert [yes_no(v) for v in (True, False, "true", "False", None)] == ["Yes", "No"] * 2 + [""]
    assert kind_name("pct") == "Primary care trust"
    assert kind_name("nhs-trust-acute") == "NHS acute trust"
    assert region_name("north-west") == "North West"
    assert region_name("yorkshire-and-the-humber") == "Yorkshire and the Humber"
    assert label("in-progress") == "In progress"
    assert label("mental_health") == "Mental health"
    assert label("age_0_4") == "Age 0 to 4"
    assert label("camhs_tier") == "CAMHS tier"
    assert label("london") == "London"
    assert label(True) == "Yes"


def test_history_names_people_not_ids() -> None:
    entries_people = [
        Person(account_id="old-9", name="Old Lead", email="old@pct.nhs.uk", organisation_id="5A4"),
        Person(account_id="nat-1", national=True),
        Person(account_id="else-1", organisation_id="7B2", organisation_name="Hillside Trust"),
    ]
    names = people(
        ("me-1", "lead@pct.nhs.uk"),
        entries_people,
        [Delegation(id="d-1", email="manager@pct.nhs.uk", status="active")],
        [{"event": "QuestionnaireDelegated", "delegation_id": "d-2", "delegate_email": "x@y.uk"}],
    )
    assert actor_name("user:me-1", names) == "You (lead@pct.nhs.uk)"
    assert actor_name("user:old-9", names) == "Old Lead"
    assert actor_name("user:nat-1", names) == "Someone in the national mapping team"
    assert actor_name("user:else-1", names) == "Someone at Hillside Trust"
    assert actor_name("delegate:d-1", names) == "manager@pct.nhs.uk"
    assert actor_name("delegate:d-2", names) == "x@y.uk"  # from the history's own entries
    assert actor_name("service:questionnaire", names) == "The service (automatically)"
    assert actor_name("user:620bb8e2-aaaa", names) == "Someone whose account is not on record"
    assert actor_name("delegate:gone", names) == "Someone asked by email"
    assert actor_ids(
        [{"actor": "user:a", "submitted_by": "user:b"}, {"actor": "delegate:d", "x": "user:c"}]
    ) == ["a", "b"]
    view = {
        "sections": [
            {
                "questions": [
                    {
                        "id": "ages",
                        "text": "Ages?",
                        "options": [{"value": "age_0_4", "label": "0 to 4"}],
                    },
                    {"id": "spend", "type": "money", "text": "Investment"},
                ]
            }
        ]
    }
    entries = [
        {
            "actor": "delegate:d-1",
            "submitted_by": "user:old-9",
            "changes": [
                {"question": "ages", "old": None, "new": ["age_0_4"]},
                {"question": "spend", "old": "120000.00", "new": "760000"},
            ],
            "definition": "service@1",
        }
    ]
    row = history_rows(view, entries, names)[0]  # type: ignore[arg-type]
    assert row["who"] == "manager@pct.nhs.uk"
    assert row["changes"][0]["new"] == "0 to 4"
    assert (row["changes"][1]["old"], row["changes"][1]["new"]) == ("£120,000", "£760,000")
    assert ("Questionnaire version", "1") in row["details"]
    assert ("Submitted by", "Old Lead") in row["details"]


def test_a_reports_values_by_their_column() -> None:
    from portal.application.words import shown_value

    assert shown_value(760000, "investment_total") == "£760,000"
    assert shown_value(12345, "caseload") == "12,345"
    assert shown_value(2009, "year") == "2009" and shown_value("2009-10", "cycle") == "2009-10"
    assert shown_value("north-west", "region") == "North West"
    assert shown_value("pct", "kind") == "Primary care trust"
    assert shown_value("mental_health") == "Mental health"
    assert shown_value("Anytown PCT") == "Anytown PCT" and shown_value("5A4") == "5A4"
    assert shown_value(False) == "No" and shown_value(None) == "\u2013"
    assert shown_value("2026-12-06T08:14:00+00:00", "as_at") == "6 December 2026 at 8:14am"


def test_a_services_refusal_in_govuk_words() -> None:
    from portal.application.messages import field_message

    assert field_message("Organisation code", "String should match pattern '^[A-Z]+$'") == (
        "Enter organisation code in the correct format"
    )
    assert field_message("Name", "String should have at most 200 characters") == (
        "Name must be 200 characters or fewer"
    )
    assert field_message("Email", "value is not a valid email address: no @") == (
        "Enter an email address in the correct format, like name@example.com"
    )
    assert field_message("Age", "Input should be greater than or equal to 0") == (
        "Age must be 0 or more"
    )
    assert field_message("Region", "Input should be 'london' or 'north-west'") == "Select region"
    assert field_message("Name", "Field required") == "Enter name"
    assert field_message(None, "Field required") == "Enter the missing information"
    # A reason the service already words for people is kept, after the field's label.
    assert field_message("Cycle", "cycle 2009-10 is already scheduled") == (
        "Cycle: Cycle 2009-10 is already scheduled"
    )
