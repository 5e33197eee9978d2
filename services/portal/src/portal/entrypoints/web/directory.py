"""The directory of services: the organisation's services this cycle, and adding one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...application.dates import gov_datetime
from ...application.errors import ApiError
from ...application.ports import QuestionnaireApi, RegistrationApi
from ...application.returns import current_cycle
from .answering import form_of
from .dashboard import groups_of
from .deps import Questionnaires, Registration
from .forms import values
from .rendering import FormErrors, render
from .service_form import FIELDS, SERVICE_TYPES, check, record_of
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


async def cycle_of(api: QuestionnaireApi, session: Session) -> str | None:
    return current_cycle(await api.cycles(session.token))


async def signed_off_at(api: QuestionnaireApi, session: Session, cycle: str | None) -> str | None:
    """When the organisation's return for the cycle was signed off (its services then
    settled until the national team reopens it), or None."""
    if cycle is None or not session.organisation_id:
        return None
    status = await api.return_status(session.token, cycle, session.organisation_id)
    return status.signed_off_at


def settled(cycle: str, when: str, what: str) -> str:
    """Why `what` cannot be done to a signed-off return, and who can reopen it."""
    return (
        f"Your {cycle} return was signed off on {gov_datetime(when)}, so {what}. "
        "If something needs changing, ask the national mapping team to reopen the return."
    )


async def refuse_when_signed_off(
    api: QuestionnaireApi, session: Session, cycle: str | None, what: str
) -> None:
    """409, saying why and who can reopen it, once the cycle's return is signed off: the
    pages offer nothing that would change it (the services would be changed behind a
    return already signed off)."""
    when = await signed_off_at(api, session, cycle)
    if cycle is not None and when is not None:
        raise HTTPException(409, settled(cycle, when, what))


async def _refuse_when_signed_off(api: QuestionnaireApi, session: Session) -> str | None:
    cycle = await cycle_of(api, session)
    await refuse_when_signed_off(api, session, cycle, "no services can be added to it")
    return cycle


@router.get("/services")
async def services(
    request: Request,
    session: Lead,
    api: Questionnaires,
    registration: Registration,
    done: str | None = None,
) -> Response:
    cycle = await cycle_of(api, session)
    page = await registration.services(session.token, cycle=cycle, limit=100)
    when = await signed_off_at(api, session, cycle)
    return render(
        request,
        "directory/list.html",
        title="Your services",
        page=page,
        cycle=cycle,
        can_add=when is None,
        settled=(
            settled(cycle, when, "no services can be added, changed or withdrawn")
            if cycle and when
            else None
        ),
        done=done,
        width="full",
    )


async def _form(
    request: Request,
    session: Session,
    registration: RegistrationApi,
    status: int = 200,
    **ctx: object,
) -> Response:
    return render(
        request,
        "directory/new.html",
        status,
        title="Add a service",
        types=SERVICE_TYPES,
        groups=await groups_of(registration, session),
        **ctx,
    )


@router.get("/services/new")
async def new_page(
    request: Request, session: Lead, api: Questionnaires, registration: Registration
) -> Response:
    await _refuse_when_signed_off(api, session)
    return await _form(request, session, registration, values={})


@router.post("/services/new")
async def add(
    request: Request, session: Lead, api: Questionnaires, registration: Registration
) -> Response:
    form = await form_of(request)
    errors = check(form)
    cycle = await _refuse_when_signed_off(api, session)
    if cycle is None:
        errors.add(None, "No mapping cycle has been scheduled yet: services are added to a cycle")
    if errors:
        return await _form(request, session, registration, 422, errors=errors, values=values(form))
    body = {"cycle": cycle, **record_of(form), "provider_id": session.organisation_id}
    try:
        await registration.add_service(session.token, body)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors.from_api(exc, FIELDS, fallback="name")
        return await _form(request, session, registration, 422, errors=errors, values=values(form))
    return RedirectResponse("/services?done=added", status_code=303)
