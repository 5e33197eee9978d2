"""The national team's say over one organisation's return: extend its data entry, or reopen
it (a signed-off return too), each with a reason the service keeps."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.dates import When, read_when
from ...application.errors import ApiError
from ...application.models import JsonObject
from ...application.ports import QuestionnaireApi
from .deps import Questionnaires
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import National, Session

router = APIRouter(default_response_class=HTMLResponse)

UNTIL = When("until", "Extended until", "17:00", event="data entry is extended until")
FIELDS = {"until": ("until-day", "Extended until"), "reason": ("reason", "Reason")}


async def _page(
    request: Request,
    api: QuestionnaireApi,
    session: Session,
    cycle: str,
    org: str,
    act: str,
    status: int = 200,
    **ctx: object,
) -> Response:
    ret = await api.return_status(session.token, cycle, org)
    title = f"Extend {org}'s data entry" if act == "extension" else f"Reopen {org}'s return"
    return render(
        request,
        "national/return_action.html",
        status,
        title=title,
        act=act,
        cycle=cycle,
        org=org,
        ret=ret,
        until=UNTIL,
        **ctx,
    )


@router.get("/national/cycles/{cycle}/returns/{org}/{act}")
async def action_page(
    request: Request, cycle: str, org: str, act: str, session: National, api: Questionnaires
) -> Response:
    if act not in ("extension", "reopen"):
        return render(request, "errors/not_found.html", 404)
    return await _page(request, api, session, cycle, org, act, values={})


@router.post("/national/cycles/{cycle}/returns/{org}/{act}")
async def act_on_return(
    request: Request, cycle: str, org: str, act: str, session: National, api: Questionnaires
) -> Response:
    if act not in ("extension", "reopen"):
        return render(request, "errors/not_found.html", 404)
    form = await form_of(request)
    errors = FormErrors()
    body: JsonObject = {"reason": text(form, "reason")}
    if act == "extension":
        typed = {k: v for k, v in form.items() if isinstance(v, str)}
        until, problem = read_when(typed, UNTIL)
        if problem:
            errors.add("until-day", problem)
        elif until is not None:
            body["until"] = until.isoformat()
    if not body["reason"]:
        errors.add(
            "reason",
            "Enter the reason"
            + (" for the extension" if act == "extension" else " for reopening the return"),
        )
    if not errors and act == "reopen" and text(form, "confirm") != "yes":
        # Reopening undoes a sign-off and tells people: say what happens, and ask again.
        return await _page(
            request,
            api,
            session,
            cycle,
            org,
            act,
            confirming=True,
            values=values(form),
        )
    if not errors:
        try:
            await api.act_on_return(session.token, cycle, org, act, body)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, FIELDS, fallback="reason")
        else:
            done = "extended" if act == "extension" else "reopened"
            return RedirectResponse(
                f"/national/cycles/{cycle}/participation?done={done}&org={org}", 303
            )
    return await _page(
        request, api, session, cycle, org, act, 422, errors=errors, values=values(form)
    )
