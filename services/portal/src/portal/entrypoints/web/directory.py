"""The directory of services: the organisation's services this cycle, and adding one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...adapters.api import ApiError
from .answering import form_of
from .dashboard import current_cycle, groups_of
from .forms import text, values
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter()

SERVICE_TYPES = [
    ("universal", "Universal", "Open to every child, for example health visiting"),
    ("targeted", "Targeted", "For children with additional needs"),
    ("specialist", "Specialist", "For children with complex or acute needs"),
]

FIELDS = {
    "cycle": ("name", "Cycle"),
    "name": ("name", "Service name"),
    "description": ("description", "Description"),
    "service_type": ("service_type", "Type of service"),
    "client_group.age_min": ("age_min", "Youngest age"),
    "client_group.age_max": ("age_max", "Oldest age"),
    "client_group": ("age_min", "Ages"),
    "camhs": ("camhs", "CAMHS"),
    "camhs_tier": ("camhs_tier", "CAMHS tier"),
    "group_id": ("group_id", "Service group"),
    "provider_id": ("name", "Provider"),
    "contact.name": ("contact_name", "Contact name"),
    "contact.email": ("contact_email", "Contact email address"),
    "contact.phone": ("contact_phone", "Contact telephone"),
}


async def _cycle(request: Request, session: Session) -> str | None:
    cycles = await request.app.state.portal.apis.questionnaire.get("/cycles", token=session.token)
    return current_cycle(cycles)


@router.get("/services")
async def services(request: Request, session: Lead, done: str | None = None) -> Response:
    cycle = await _cycle(request, session)
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


def _int(value: str) -> int | str:
    return int(value) if value.isdigit() else value


@router.post("/services/new")
async def add(request: Request, session: Lead) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    required = (
        ("name", "Enter the service's name"),
        ("service_type", "Select the type of service"),
        ("age_min", "Enter the youngest age the service is for"),
        ("age_max", "Enter the oldest age the service is for"),
        ("contact_name", "Enter the name of someone to contact about the service"),
        ("contact_email", "Enter the contact's email address"),
    )
    for fid, message in required:
        if not text(form, fid):
            errors.add(fid, message)
    for fid in ("age_min", "age_max"):
        if text(form, fid) and not text(form, fid).isdigit():
            errors.add(fid, "Enter the age as a whole number of years, like 5")
    camhs = text(form, "camhs") == "yes"
    if camhs and not text(form, "camhs_tier"):
        errors.add("camhs_tier", "Select the CAMHS tier")
    cycle = await _cycle(request, session)
    if cycle is None:
        errors.add(None, "No mapping cycle has been scheduled yet: services are added to a cycle")
    if errors:
        return await _form(request, session, 422, errors=errors, values=values(form))
    body = {
        "cycle": cycle,
        "name": text(form, "name"),
        "description": text(form, "description"),
        "service_type": text(form, "service_type"),
        "client_group": {
            "age_min": _int(text(form, "age_min")),
            "age_max": _int(text(form, "age_max")),
        },
        "camhs": camhs,
        "camhs_tier": int(text(form, "camhs_tier")) if camhs else None,
        "group_id": text(form, "group_id") or None,
        "provider_id": session.organisation_id,
        "contact": {
            "name": text(form, "contact_name"),
            "email": text(form, "contact_email"),
            "phone": text(form, "contact_phone") or None,
        },
    }
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
