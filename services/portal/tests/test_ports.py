"""The pages over in-memory fakes of the application's ports (no HTTP to any service), and the
HTTP adapters' parsing of the services' answers into the portal's read models."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from portal_fakes import LEAD_TOKEN, browser, portal

from portal.adapters.api import Api
from portal.adapters.questionnaire import HttpQuestionnaire
from portal.adapters.registration import HttpRegistration
from portal.application.errors import ApiError, ServiceUnavailable
from portal.application.models import Account, Cycle, Person, QuestionnaireSummary, ReturnStatus


class FakeRegistration:
    async def me(self, token: str) -> Account:
        return Account(account_id="a1", roles=["mapping-lead"], organisation_id="5A4")

    async def groups(self, token: str, organisation: str) -> list[Any]:
        return []

    async def people(self, token: str, account_ids: list[str]) -> list[Person]:
        return [Person(account_id="a1", name="Lee Lead", organisation_id="5A4")]


class FakeQuestionnaire:
    def __init__(self, cycles: list[Cycle]) -> None:
        self.listed = cycles

    async def cycles(self, token: str) -> list[Cycle]:
        return self.listed

    async def return_status(self, token: str, cycle: str, organisation: str) -> ReturnStatus:
        return ReturnStatus(
            cycle=cycle,
            organisation_id=organisation,
            phase="data-entry",
            entry_ends="2010-02-28T17:00:00+00:00",
            days_to_deadline=3,
            questionnaires_issued=1,
            can_sign_off=True,
        )

    async def questionnaires(self, token: str, cycle: str) -> list[QuestionnaireSummary]:
        return [QuestionnaireSummary(id="q1", title="Riverside CAMHS", status="submitted")]


def _over_fakes(questionnaire: FakeQuestionnaire) -> Any:
    app, _ = portal()
    apis = app.state.portal.apis
    app.state.portal.apis = dataclasses.replace(
        apis, registration=FakeRegistration(), questionnaire=questionnaire
    )
    return app


async def test_the_dashboard_goes_to_the_current_cycles_return() -> None:
    app = _over_fakes(FakeQuestionnaire([Cycle(cycle="2009-10", phase="data-entry")]))
    async with browser(app, LEAD_TOKEN) as b:
        r = await b.get("/dashboard")
    assert r.status_code == 303
    assert r.headers["location"] == "/returns/2009-10"


async def test_the_return_offers_sign_off_to_the_lead() -> None:
    app = _over_fakes(FakeQuestionnaire([Cycle(cycle="2009-10", phase="data-entry")]))
    async with browser(app, LEAD_TOKEN) as b:
        r = await b.get("/returns/2009-10")
    assert r.status_code == 200
    assert "Check and sign off your return" in r.text
    assert "Riverside CAMHS" in r.text


async def test_no_cycle_no_return() -> None:
    app = _over_fakes(FakeQuestionnaire([]))
    async with browser(app, LEAD_TOKEN) as b:
        r = await b.get("/dashboard")
    assert r.status_code == 200


# --- the adapters --------------------------------------------------------------------------


def _api(name: str, handler: Any) -> Api:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://svc")
    return Api(name, client)


async def test_answers_are_parsed_into_read_models_ignoring_what_the_portal_does_not_use() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer t"
        body = {
            "cycle": "2009-10",
            "organisation_id": "5A4",
            "phase": "closed",
            "deadline": "2010-02-28T17:00:00+00:00",
            "entry_ends": "2010-02-28T17:00:00+00:00",
            "days_to_deadline": -2,
            "extension_until": None,
            "reopened": False,
            "signed_off_at": None,
            "signed_off_by": None,
            "questionnaires_issued": 2,
            "by_status": {"submitted": 1, "in-progress": 1},
            "outstanding": [{"id": "q2", "title": "Self-assessment", "status": "in-progress"}],
            "ni51": [{"area": "E10", "score": 12}],
            "can_sign_off": False,
            "something_new": {"ignored": True},
        }
        return httpx.Response(200, json=body)

    status = await HttpQuestionnaire(_api("questionnaire", answer)).return_status(
        "t", "2009-10", "5A4"
    )
    assert status.days_to_deadline == -2
    assert status.by_status == {"submitted": 1, "in-progress": 1}
    assert status.outstanding[0].title == "Self-assessment"
    assert status.ni51[0].score == 12


async def test_a_refusal_is_an_api_error_with_its_details() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid", "details": [{"field": "email", "reason": "bad"}, "junk"]}
        return httpx.Response(422, json=body)

    with pytest.raises(ApiError) as caught:
        await HttpRegistration(_api("registration", refuse)).set_up("token", "password")
    assert (caught.value.status, caught.value.message) == (422, "invalid")
    assert caught.value.details == [{"field": "email", "reason": "bad"}]


async def test_a_failing_service_is_unavailable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    with pytest.raises(ServiceUnavailable) as caught:
        await HttpRegistration(_api("registration", fail)).me("t")
    assert caught.value.label == "registration and sign-in service"


async def test_a_delivery_without_a_subject_yet_is_listed() -> None:
    # The hostile suite found it: the log holds deliveries whose subject is still null.
    from portal.adapters.notification import HttpNotification

    def answer(request: httpx.Request) -> httpx.Response:
        row = {"id": "n1", "kind": "reminder", "recipient": "a@b.org", "subject": None}
        return httpx.Response(200, json={"items": [{**row, "status": "pending"}], "next": None})

    page = await HttpNotification(_api("notification", answer)).notifications(
        "t", status=None, before=None, limit=50
    )
    assert page.items[0].subject is None
    assert page.items[0].status == "pending"
