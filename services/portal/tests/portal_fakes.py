"""Small stand-ins for the services' HTTP APIs, served in-process to the portal under test."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from portal.bootstrap import build_app
from portal.entrypoints.web import csrf
from portal.settings import PortalSettings

LEAD_TOKEN = "lead-token"
ADMIN_TOKEN = "admin-token"
OWNER_TOKEN = "owner-token"
REGULATOR_TOKEN = "regulator-token"
AUDITOR_TOKEN = "auditor-token"

ACCOUNTS = {
    LEAD_TOKEN: {
        "account_id": "a1",
        "roles": ["mapping-lead"],
        "organisation_id": "5A4",
        "group_id": None,
    },
    ADMIN_TOKEN: {
        "account_id": "a0",
        "roles": ["national-admin"],
        "organisation_id": None,
        "group_id": None,
    },
    OWNER_TOKEN: {
        "account_id": "a2",
        "roles": ["group-owner"],
        "organisation_id": "5A4",
        "group_id": "g1",
    },
    REGULATOR_TOKEN: {
        "account_id": "a3",
        "roles": ["regulator"],
        "organisation_id": None,
        "group_id": None,
    },
    AUDITOR_TOKEN: {
        "account_id": "a4",
        "roles": ["auditor"],
        "organisation_id": None,
        "group_id": None,
    },
}


#: Every account registration knows, as `GET /people` answers for whoever may know them.
PEOPLE = {
    "a1": ("Lee Lead", "lead@pct.nhs.uk", "5A4", "Riverside Primary Care Trust"),
    "a2": ("Olu Owner", "owner@pct.nhs.uk", "5A4", "Riverside Primary Care Trust"),
    "acct-ann": ("Ann Lead", "ann@pct.nhs.uk", "5A4", "Riverside Primary Care Trust"),
    "a0": ("Ada Admin", "ada@dh.gov.uk", None, None),
    "acct-nia": ("Nia National", "nia@dh.gov.uk", None, None),
}


def roles_of(request: Request) -> list[str]:
    """The caller's roles, as the services read them from the bearer token."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    account = ACCOUNTS.get(token)
    return list(account["roles"]) if account else []


def refusal(status: int, error: str, *details: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"error": error, "details": list(details)}, status_code=status)


def registration() -> FastAPI:
    app = FastAPI()

    @app.get("/auth/me")
    async def me(request: Request) -> Any:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in ACCOUNTS:
            return refusal(401, "sign in again")
        return ACCOUNTS[token]

    @app.get("/people")
    async def people(request: Request) -> Any:
        # As registration answers: the national team and auditors know everyone; anyone
        # else themself and their organisation's accounts, and of others where they belong.
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        caller = ACCOUNTS.get(token)
        if caller is None:
            return refusal(401, "sign in again")
        everyone = bool({"national-admin", "auditor"} & set(caller["roles"]))
        found = []
        for account_id in request.query_params.getlist("id"):
            if account_id not in PEOPLE:
                continue
            name, email, org, org_name = PEOPLE[account_id]
            known = (
                everyone
                or account_id == caller["account_id"]
                or (org is not None and org == caller["organisation_id"])
            )
            found.append(
                {
                    "account_id": account_id,
                    "name": name if known else None,
                    "email": email if known else None,
                    "organisation_id": org,
                    "organisation_name": org_name,
                    "national": org is None,
                }
            )
        return found

    @app.post("/auth/sign-in")
    async def sign_in(request: Request) -> Any:
        body = await request.json()
        if body["password"] != "correct horse battery staple":
            return refusal(401, "wrong email or password")
        return {"access_token": LEAD_TOKEN, "refresh_token": "r", "expires_in": 900}

    @app.post("/auth/links/check")
    async def check_link(request: Request) -> Any:
        # "t" is a usable link; "used", "expired" and "superseded" are links in that state.
        body = await request.json()
        state = body["token"] if body["token"] in ("used", "expired", "superseded") else "usable"
        if body["token"] == "owner-used":
            return {"purpose": body["purpose"], "state": "used", "ask": "mapping-lead"}
        return {"purpose": body["purpose"], "state": state, "ask": "national-team"}

    @app.post("/auth/password-reset-requests", status_code=202)
    @app.post("/auth/set-up-link-requests", status_code=202)
    async def request_link(request: Request) -> Any:
        body = await request.json()
        if body["email"] == "busy@pct.nhs.uk":
            return refusal(429, "too many requests for links: wait a while and try again")
        return {"message": "If that email address has an account, we have sent it a link."}

    @app.post("/auth/reset-password", status_code=204)
    async def reset_password(request: Request) -> None:
        return None

    @app.post("/organisations")
    async def register(request: Request) -> Any:
        body = await request.json()
        if not body["code"].isalnum():
            return refusal(
                422,
                "invalid request",
                {"field": "code", "reason": "Value error, must be 3-5 capital letters and digits"},
            )
        return JSONResponse(body, status_code=201)

    return app


def _question(qid: str, kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": qid,
        "type": kind,
        "text": text,
        "required": True,
        "visible": True,
        "answer": None,
        **extra,
    }


def service_view(answers: dict[str, Any], version: int) -> dict[str, Any]:
    """A two-question questionnaire: the tier is asked only of a CAMHS service."""
    camhs = answers.get("camhs")
    tier = _question(
        "camhs_tier",
        "single_choice",
        "Which CAMHS tier?",
        options=[{"value": "1", "label": "Tier 1"}, {"value": "2", "label": "Tier 2"}],
    )
    questions = [
        {**_question("camhs", "yes_no", "Is it a CAMHS service?"), "answer": camhs},
        {**tier, "visible": camhs is True, "answer": answers.get("camhs_tier")},
    ]
    missing = [
        {"question": q["id"], "reason": "required"}
        for q in questions
        if q["visible"] and q["answer"] is None
    ]
    return {
        "id": "q1",
        "definition": "service@1",
        "title": "Service: Riverside",
        "cycle": "2009-10",
        "organisation_id": "5A4",
        "status": "in-progress",
        "version": version,
        "entry_ends": "2010-02-28T17:00:00+00:00",
        "can_edit": True,
        "subject": {"kind": "service"},
        "sections": [
            {"id": "s", "title": "Mental health", "visible": True, "questions": questions}
        ],
        "missing": missing,
    }


def questionnaire() -> FastAPI:
    app = FastAPI()
    state: dict[str, Any] = {"answers": {}, "version": 1, "saves": []}
    app.state.data = state

    @app.get("/questionnaires/q1")
    async def view() -> Any:
        # Once the return is signed off (more_fakes' sign-off), the view says when.
        signed = getattr(app.state, "signed_off_at", None)
        shown = service_view(state["answers"], state["version"])
        return {
            **shown,
            "signed_off_at": signed,
            **({"can_edit": False, "status": "submitted"} if signed else {}),
        }

    @app.post("/sandbox/service@1")
    async def sandbox(request: Request) -> Any:
        return service_view((await request.json())["answers"], 0)

    @app.patch("/questionnaires/q1/answers")
    async def save(request: Request) -> Any:
        body = await request.json()
        state["saves"].append(body["answers"])
        if body["answers"].get("camhs") not in (None, True, False):
            return refusal(422, "bad", {"field": "camhs", "reason": "answer true or false"})
        state["answers"].update({k: v for k, v in body["answers"].items() if v is not None})
        state["version"] += 1
        return {"version": state["version"]}

    @app.post("/questionnaires/q1/submit")
    async def submit() -> Any:
        v = service_view(state["answers"], state["version"])
        if v["missing"]:
            return refusal(
                422,
                "1 thing(s) to finish before submitting",
                *[{"field": m["question"], **m} for m in v["missing"]],
            )
        return v

    return app


class Down(httpx.AsyncBaseTransport):
    """A service nobody is listening for."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


def portal(**apps: FastAPI | None) -> tuple[FastAPI, dict[str, FastAPI | None]]:
    """The portal over fake services (`None`: that service is down)."""
    chosen: dict[str, FastAPI | None] = {
        "registration": registration(),
        "questionnaire": questionnaire(),
        "reporting": FastAPI(),
        "notification": FastAPI(),
        **apps,
    }
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app) if app is not None else Down(),
            base_url=f"http://{name}",
        )
        for name, app in chosen.items()
    }
    settings = PortalSettings(mailbox_auto=False, auth_public_key_file=None)
    return build_app(settings, clients=clients), chosen


#: The form-token secret of the test browser's cookie (32 bytes, as the portal makes them).
CSRF_SECRET = "c" * 43


def browser(
    app: FastAPI, token: str | None = None, *, csrf_token: bool = True
) -> httpx.AsyncClient:
    """A client like a browser without JavaScript: cookies kept, redirects not followed. It has
    the form-token cookie of an earlier visit and sends the matching token with every request
    (as the pages' forms and htmx do); `csrf_token=False` sends none (tests of the check)."""
    headers = {"origin": "https://portal.test"}
    if csrf_token:
        headers[csrf.HEADER] = csrf.token_for(CSRF_SECRET, csrf.session_id_of(token))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="https://portal.test",
        headers=headers,
    )
    client.cookies.set(csrf.cookie_name(secure=True), CSRF_SECRET, domain="portal.test")
    if token is not None:
        client.cookies.set("csm_session", token, domain="portal.test")
    return client
