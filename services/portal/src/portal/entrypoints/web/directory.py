"""The directory of services: the organisation's services this cycle, and adding one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

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


async def signed_off(api: QuestionnaireApi, session: Session, cycle: str | None) -> bool:
    """Is the organisation's return for the cycle signed off (its services then settled)?"""
    if cycle is None or not session.organisation_id:
        return False
    status = await api.return_status(session.token, cycle, session.organisation_id)
    return status.signed_off_at is not None


async def _refuse_when_signed_off(api: QuestionnaireApi, session: Session) -> str | None:
    cycle = await cycle_of(api, session)
    if await signed_off(api, session, cycle):
        raise HTTPException(
            409,
            f"Your {cycle} return has been signed off, so no services can be added to it. "
            "If a service is missing, ask the national team to reopen the return.",
        )
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
    return render(
        request,
        "directory/list.html",
        title="Your services",
        page=page,
        cycle=cycle,
        can_add=not await signed_off(api, session, cycle),
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
