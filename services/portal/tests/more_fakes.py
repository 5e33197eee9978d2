"""Fake endpoints for the groups, carry-forward review and national-team pages, added to the
fake services of `portal_fakes`. Each records what it was sent (`app.state.calls`) and
refuses what the real service refuses in the ways the pages must show (422 details naming
fields, 409 for a stale version, 403 for a role the service does not serve)."""

from __future__ import annotations

import copy
from typing import Any

import accounts_fakes
import participation_fakes
import portal_fakes
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from portal_fakes import refusal, roles_of

SERVICE_ID = "8f0e7c2a-5b1d-4c3e-9a6f-2d4b8e1c0a11"
CYCLES = [
    {
        "cycle": "2009-10",
        "version": 3,
        "phase": "data-entry",
        "previous_cycle": "2008-09",
        "timetable": {
            "sandbox_opens": "2009-10-01T00:00:00+00:00",
            "data_entry_opens": "2009-11-02T00:00:00+00:00",
            "summary_reports": "2010-01-11T00:00:00+00:00",
            "data_entry_closes": "2010-02-28T17:00:00+00:00",
            "publication": "2010-04-01T00:00:00+00:00",
        },
    }
]
CARRIED = {
    "service_id": SERVICE_ID,
    "version": 2,
    "cycle": "2009-10",
    "status": "to-be-checked",
    "name": "Riverside CAMHS",
    "description": "Tier 3 team",
    "service_type": "specialist",
    "client_group": {"age_min": 0, "age_max": 18, "needs": []},
    "camhs": True,
    "camhs_tier": 3,
    "group_id": None,
    "provider_id": "5A4",
    "commissioner_ids": [],
    "contact": {"name": "Sam Manager", "email": "sam@pct.nhs.uk", "phone": None},
    "previous_service_id": "11111111-2222-3333-4444-555555555555",
    "previous_cycle": "2008-09",
    "withdrawn_reason": None,
}


def _calls(app: FastAPI) -> list[tuple[str, str, Any]]:
    calls: list[tuple[str, str, Any]] = app.state.calls
    return calls


async def _record(app: FastAPI, request: Request) -> Any:
    body = await request.json() if await request.body() else None
    _calls(app).append((request.method, request.url.path, body))
    return body


def registration() -> FastAPI:
    app = portal_fakes.registration()
    app.state.calls = []
    accounts_fakes.add_to(app)
    app.state.groups = [
        {
            "group_id": "g1",
            "organisation_id": "5A4",
            "name": "North locality",
            "kind": "locality",
            "owner_account_id": "a2",
        },
    ]
    app.state.service = copy.deepcopy(CARRIED)

    @app.get("/organisations/{code}/groups")
    async def groups(code: str) -> Any:
        return app.state.groups

    @app.get("/organisations/{code}/lead/history")
    async def leads(code: str) -> Any:
        return [
            {
                "account_id": "acct-ann",
                "email": "ann@pct.nhs.uk",
                "name": "Ann Lead",
                "replaces_account_id": None,
                "nominated_by": "user:admin",
            }
        ]

    @app.post("/organisations/{code}/groups")
    async def define(code: str, request: Request) -> Any:
        if not {"mapping-lead", "national-admin"} & set(roles_of(request)):
            return refusal(403, "your role does not allow this")
        body = await _record(app, request)
        if "@" not in body["owner"]["email"]:
            return refusal(422, "invalid", {"field": "owner.email", "reason": "not an email"})
        return JSONResponse({"group_id": "g2", "organisation_id": code, **body}, 201)

    @app.get("/directory/services")
    async def search(request: Request) -> Any:
        wanted = request.query_params.get("status")
        s = app.state.service
        rows = [] if wanted and s["status"] != wanted else [s]
        items = [
            {**s, "age_min": s["client_group"]["age_min"], "age_max": s["client_group"]["age_max"]}
            for s in rows
        ]
        return {
            "total": len(items),
            "total_is_exact": True,
            "limit": 100,
            "offset": 0,
            "items": items,
        }

    @app.get("/directory/services/{sid}")
    async def get(sid: str) -> Any:
        return app.state.service if sid == SERVICE_ID else refusal(404, "no such service")

    @app.get("/directory/services/{sid}/changes-since-last-year")
    async def changes(sid: str) -> Any:
        return {
            "service_id": sid,
            "cycle": "2009-10",
            "previous_service_id": "x",
            "previous_cycle": "2008-09",
            "changes": [
                {"field": "contact.email", "old": "old@pct.nhs.uk", "new": "sam@pct.nhs.uk"}
            ],
        }

    async def _versioned(request: Request) -> Any:
        body = await _record(app, request)
        if body.get("expected_version") != app.state.service["version"]:
            return refusal(409, "the service changed meanwhile")
        return body

    @app.patch("/directory/services/{sid}")
    async def revise(sid: str, request: Request) -> Any:
        body = await _versioned(request)
        if isinstance(body, JSONResponse):
            return body
        if body.get("client_group", {}).get("age_max", 0) > 25:
            return refusal(
                422, "invalid", {"field": "client_group.age_max", "reason": "at most 25"}
            )
        return {**app.state.service, "status": "active"}

    @app.post("/directory/services/{sid}/{act}")
    async def act(sid: str, act: str, request: Request) -> Any:
        body = await _versioned(request)
        return body if isinstance(body, JSONResponse) else app.state.service

    return app


def questionnaire() -> FastAPI:
    app = portal_fakes.questionnaire()
    app.state.calls = []

    @app.get("/cycles")
    async def cycles() -> Any:
        return CYCLES

    @app.get("/cycles/{cycle}")
    async def cycle(cycle: str) -> Any:
        return CYCLES[0] if cycle == "2009-10" else refusal(404, f"no cycle {cycle}")

    @app.post("/cycles")
    async def schedule(request: Request) -> Any:
        body = await _record(app, request)
        if body["cycle"] == "2009-10":
            return refusal(409, "cycle 2009-10 is already scheduled")
        t = body["timetable"]
        if t["publication"] <= t["data_entry_closes"]:
            return refusal(
                422,
                "invalid",
                {
                    "field": "timetable",
                    "reason": "Value error, publication must come after data_entry_closes",
                },
            )
        return JSONResponse(body, 201)

    @app.put("/cycles/{cycle}/timetable")
    async def timetable(cycle: str, request: Request) -> Any:
        body = await _record(app, request)
        return body if body["version"] == 3 else refusal(409, "the cycle changed meanwhile")

    @app.post("/cycles/{cycle}/phase")
    async def phase(cycle: str, request: Request) -> Any:
        return await _record(app, request)

    app.state.signed_off_at = None
    #: The whole organisation's questionnaires; a group owner is shown their group's alone.
    app.state.owed = [
        {"id": "q1", "title": "Service: Riverside", "status": "submitted", "group_id": "g1"},
        {"id": "q2", "title": "Service: Hillside", "status": "in-progress", "group_id": "g2"},
        {"id": "q3", "title": "Self-assessment", "status": "not-started", "group_id": None},
    ]

    @app.get("/cycles/{cycle}/returns/{org}")
    async def return_status(cycle: str, org: str) -> Any:
        return {
            "cycle": cycle,
            "organisation_id": org,
            "phase": "closed",
            "entry_ends": "2010-02-28T17:00:00+00:00",
            "extension_until": None,
            "signed_off_at": app.state.signed_off_at,
            "questionnaires_issued": len(app.state.owed),
            "by_status": {"submitted": 1},
        }

    @app.post("/cycles/{cycle}/returns/{org}/sign-off")
    async def sign_off(cycle: str, org: str) -> Any:
        app.state.signed_off_at = "2010-02-20T10:00:00+00:00"
        return {"signed_off_at": app.state.signed_off_at, "questionnaires_submitted": 3}

    @app.get("/questionnaires")
    async def owed(request: Request) -> Any:
        if "group-owner" in roles_of(request):
            return [q for q in app.state.owed if q["group_id"] == "g1"]
        return app.state.owed

    @app.post("/cycles/{cycle}/returns/{org}/extension")
    async def extend(cycle: str, org: str, request: Request) -> Any:
        body = await _record(app, request)
        if body["until"] <= "2010-02-28T17:00:00+00:00":
            return refusal(
                422, "invalid", {"field": "until", "reason": "an extension ends after the close"}
            )
        return body

    @app.post("/cycles/{cycle}/returns/{org}/reopen")
    async def reopen(cycle: str, org: str, request: Request) -> Any:
        return await _record(app, request)

    @app.get("/questionnaires/q1/history")
    async def history() -> Any:
        return [
            {
                "version": 1,
                "event": "QuestionnaireIssued",
                "occurred_at": "2009-11-02T09:00:00+00:00",
                "actor": "service:questionnaire",
                "definition": "service@1",
            },
            {
                "version": 2,
                "event": "AnswersSaved",
                "occurred_at": "2009-11-03T10:30:00+00:00",
                "actor": "user:acct-ann",
                "via": "account",
                "changes": [{"question": "camhs", "old": None, "new": True}],
            },
            {
                "version": 3,
                "event": "AnswersSaved",
                "occurred_at": "2009-11-04T15:00:00+00:00",
                "actor": "delegate:d9",
                "via": "delegate",
                "changes": [{"question": "camhs", "old": True, "new": False}],
            },
            {
                "version": 4,
                "event": "QuestionnaireUnlocked",
                "occurred_at": "2009-11-05T15:00:00+00:00",
                "actor": "user:acct-nia",
                "reason": "Caseload to correct",
            },
            {
                "version": 5,
                "event": "ResponseSubmitted",
                "occurred_at": "2009-11-06T15:00:00+00:00",
                "actor": "user:acct-gone",
                "submitted_by": "user:acct-gone",
            },
        ]

    @app.get("/questionnaires/q1/delegations")
    async def delegations() -> Any:
        return [{"id": "d9", "email": "sam@pct.nhs.uk", "status": "returned"}]

    @app.post("/questionnaires/q1/withdraw-submission")
    async def withdraw(request: Request) -> Any:
        body = await _record(app, request)
        return portal_fakes.service_view({}, 3) if body else refusal(422, "bad")

    return app


def reporting() -> FastAPI:
    app = FastAPI()
    app.state.calls = []
    participation_fakes.add_to(app)

    @app.get("/reports/cycle-progress")
    async def progress(request: Request) -> Any:
        _calls(app).append(("GET", str(request.url), None))
        if not {"national-admin", "auditor", "regulator"} & set(roles_of(request)):
            return refusal(403, "your role does not allow this report")
        org = {
            "region": "london",
            "code": "5A4",
            "name": "Anytown PCT",
            "issued": 4,
            "submitted": 1,
            "percent_complete": 25.0,
            "signed_off": False,
            "deadline": "2010-02-28T17:00:00+00:00",
            "extension_until": None,
            "reopenings": 0,
        }
        return {
            "report": "cycle-progress",
            "summary": {
                "organisations": 1,
                "signed_off": 0,
                "issued": 4,
                "submitted": 1,
                "percent_complete": 25.0,
                "phase": "data-entry",
                "data_entry_closes": "2010-02-28T17:00:00+00:00",
                "days_to_close": 30,
            },
            "tables": [
                {
                    "name": "regions",
                    "columns": [
                        {"key": "region", "label": "Region"},
                        {"key": "organisations", "label": "Organisations"},
                    ],
                    "rows": [{"region": "london", "organisations": 1}],
                },
                {
                    "name": "organisations",
                    "columns": [{"key": k, "label": k.title()} for k in org],
                    "rows": [org],
                },
            ],
        }

    return app


def notification() -> FastAPI:
    app = FastAPI()
    app.state.calls = []
    participation_fakes.add_delivery_log(app)

    def _reader(request: Request) -> bool:
        return bool({"national-admin", "auditor"} & set(roles_of(request)))

    @app.get("/reminders/{cycle}")
    async def reminders(cycle: str, request: Request) -> Any:
        if not _reader(request):
            return refusal(403, "your role does not allow this")
        if cycle != "2009-10":
            return refusal(404, f"no cycle {cycle} known to the reminders")
        return {
            "cycle": cycle,
            "days_before": [28, 14, 7, 1],
            "default_schedule": False,
            "schedule_set_by": "user:acct-nia",  # as the service keeps it: an actor
            "schedule_set_at": "2009-11-01T09:00:00+00:00",
            "data_entry_closes": "2010-02-28T17:00:00+00:00",
            "recorded": [
                {"days_before": 28, "in_schedule": True, "recorded": 5, "sent": 4, "failed": 1}
            ],
            "next": {
                "due_at": "2010-02-14T17:00:00+00:00",
                "days_before": [14],
                "count": 1,
                "organisations": [
                    {
                        "organisation_id": "5A4",
                        "name": "Anytown PCT",
                        "days_before": 14,
                        "closes_at": "2010-02-28T17:00:00+00:00",
                    }
                ],
            },
        }

    @app.put("/reminders/{cycle}/schedule")
    async def schedule(cycle: str, request: Request) -> Any:
        body = await _record(app, request)
        if any(d > 120 for d in body["days_before"]):
            return refusal(
                422,
                "invalid",
                {
                    "field": "days_before",
                    "reason": "each offset is a whole number of days from 1 to 120",
                },
            )
        return {"cycle": cycle, **body}

    listed = [
        {
            "id": "b3",
            "subject": "Sign off by Friday",
            "body": "Please sign off.",
            "filter": {
                "regions": [],
                "kinds": ["pct"],
                "organisation_ids": [],
                "not_signed_off_in": "2009-10",
            },
            "status": "scheduled",
            "send_at": "2010-02-22T08:00:00+00:00",
            "recipients": None,
            "delivery": {"pending": 0, "sent": 0, "failed": 0},
            "created_at": "2010-02-01T09:00:00+00:00",
            "created_by": "user:a0",
        },
        {
            "id": "b1",
            "subject": "The 2009-10 mapping opens",
            "body": "Hello",
            "filter": {"regions": ["london"], "kinds": [], "organisation_ids": []},
            "status": "sent",
            "recipients": 12,
            "delivery": {"pending": 2, "sent": 10, "failed": 0},
            "created_at": "2009-11-02T09:00:00+00:00",
            "created_by": "user:acct-nia",
            "sent_at": "2009-11-02T09:00:00+00:00",
            "sent_by": "user:acct-nia",
        },
    ]

    @app.get("/bulletins")
    async def bulletins(request: Request) -> Any:
        if not _reader(request):
            return refusal(403, "your role does not allow this")
        return listed

    @app.get("/bulletins/{bulletin_id}")
    async def bulletin(bulletin_id: str) -> Any:
        found = [b for b in listed if b["id"] == bulletin_id]
        return found[0] if found else refusal(404, f"no bulletin {bulletin_id}")

    @app.post("/bulletins/{bulletin_id}/{action}")
    async def change(bulletin_id: str, action: str, request: Request) -> Any:
        app.state.calls.append(("POST", f"/bulletins/{bulletin_id}/{action}", None))
        found = [b for b in listed if b["id"] == bulletin_id]
        if not found:
            return refusal(404, f"no bulletin {bulletin_id}")
        if found[0]["status"] != "scheduled":
            return refusal(409, f"bulletin {bulletin_id} has already been sent")
        if action == "send":
            return {**found[0], "status": "sent", "recipients": 7}
        return {**found[0], "status": "cancelled"}

    @app.post("/bulletins")
    async def publish(request: Request) -> Any:
        body = await _record(app, request)
        wanted = (body.get("filter") or {}).get("organisation_ids", [])
        if "ZZZ" in wanted:
            return refusal(
                422,
                "invalid",
                {"field": "filter.organisation_ids", "reason": "unknown organisation(s) ZZZ"},
            )
        if body.get("send_at"):
            return JSONResponse({"id": "b4", "status": "scheduled", "recipients": None}, 201)
        return JSONResponse({"id": "b2", "recipients": 3}, 201)

    return app


def every() -> dict[str, FastAPI]:
    return {
        "registration": registration(),
        "questionnaire": questionnaire(),
        "reporting": reporting(),
        "notification": notification(),
    }
