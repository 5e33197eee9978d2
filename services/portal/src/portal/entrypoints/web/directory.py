"""The directory of services: the organisation's services this cycle, and adding one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...adapters.api import ApiError
from .answering import form_of
from .dashboard import current_cycle, groups_of
from .forms import values
from .rendering import FormErrors, render
from .service_form import FIELDS, SERVICE_TYPES, check, record_of
from .session import Lead, Session

router = APIRouter()


async def cycle_of(request: Request, session: Session) -> str | None:
    cycles = await request.app.state.portal.apis.questionnaire.get("/cycles", token=session.token)
    return current_cycle(cycles)


@router.get("/services")
async def services(request: Request, session: Lead, done: str | None = None) -> Response:
    cycle = await cycle_of(request, session)
    page = await request.app.state.portal.apis.registration.get(
        "/directory/services", token=session.token, params={"cycle": cycle, "limit": 100}
    )
    return render(
        request,
        "directory/list.html",
        title="Your services",
        page=page,
        cycle=cycle,
        done=done,
        width="full",
    )


async def _form(request: Request, session: Session, status: int = 200, **ctx: Any) -> Response:
    return render(
        request,
        "directory/new.html",
        status,
        title="Add a service",
        types=SERVICE_TYPES,
        groups=await groups_of(request, session),
        **ctx,
    )


@router.get("/services/new")
async def new_page(request: Request, session: Lead) -> Response:
    return await _form(request, session, values={})


@router.post("/services/new")
async def add(request: Request, session: Lead) -> Response:
    form = await form_of(request)
    errors = check(form)
    cycle = await cycle_of(request, session)
    if cycle is None:
        errors.add(None, "No mapping cycle has been scheduled yet: services are added to a cycle")
    if errors:
        return await _form(request, session, 422, errors=errors, values=values(form))
    body = {"cycle": cycle, **record_of(form), "provider_id": session.organisation_id}
    try:
        await request.app.state.portal.apis.registration.post(
            "/directory/services", token=session.token, json=body
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors.from_api(exc, FIELDS, fallback="name")
        return await _form(request, session, 422, errors=errors, values=values(form))
    return RedirectResponse("/services?done=added", status_code=303)
