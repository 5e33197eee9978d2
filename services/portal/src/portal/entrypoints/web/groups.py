"""Service groups (localities or areas of delivery) and their owners: an organisation's lead
defines a group and names its owner, who gets an account that sees only that group.

Leads reach their own organisation's groups at `/groups`; the national team reaches any
organisation's from its page. The registration service decides who may do what: a group
owner sees only their own group and cannot define one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.permissions import may_define_groups
from ...application.ports import RegistrationApi
from .deps import Registration
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import Lead, MappingLead, National, NationalReader, NotAllowed, Session

router = APIRouter(default_response_class=HTMLResponse)

KINDS = [
    ("locality", "Locality", "A part of the area, such as a town or a district"),
    ("area-of-delivery", "Area of delivery", "A kind of provision, such as maternity or CAMHS"),
]
FIELDS = {
    "name": ("name", "Group name"),
    "kind": ("kind", "Type of group"),
    "owner.name": ("owner_name", "Owner's name"),
    "owner.email": ("owner_email", "Owner's email address"),
    "owner": ("owner_name", "Owner"),
}


def _own(session: Session) -> str:
    if not session.organisation_id:
        raise NotAllowed()
    return session.organisation_id


async def _list(
    request: Request,
    registration: RegistrationApi,
    session: Session,
    code: str,
    base: str,
    done: str | None,
) -> Response:
    groups = await registration.groups(session.token, code)
    return render(
        request,
        "groups/list.html",
        title="Service groups",
        groups=groups,
        code=code,
        base=base,
        kinds=dict((k, t) for k, t, _ in KINDS),
        done=done,
        can_define=may_define_groups(session.principal),
    )


def _form(request: Request, code: str, base: str, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "groups/new.html",
        status,
        title="Define a service group",
        code=code,
        base=base,
        kinds=KINDS,
        **ctx,
    )


async def _define(
    request: Request, registration: RegistrationApi, session: Session, code: str, base: str
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    checks = (
        ("name", "Enter the group's name"),
        ("kind", "Select the type of group"),
        ("owner_name", "Enter the name of the group's owner"),
        ("owner_email", "Enter the owner's email address"),
    )
    for fid, message in checks:
        if not text(form, fid):
            errors.add(fid, message)
    if errors:
        return _form(request, code, base, 422, errors=errors, values=values(form))
    body = {
        "name": text(form, "name"),
        "kind": text(form, "kind"),
        "owner": {"name": text(form, "owner_name"), "email": text(form, "owner_email")},
    }
    try:
        await registration.define_group(session.token, code, body)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors.from_api(exc, FIELDS, fallback="name")
        return _form(request, code, base, 422, errors=errors, values=values(form))
    return RedirectResponse(f"{base}?done=defined", status_code=303)


@router.get("/groups")
async def own_groups(
    request: Request, session: Lead, registration: Registration, done: str | None = None
) -> Response:
    return await _list(request, registration, session, _own(session), "/groups", done)


@router.get("/groups/new")
async def new_own_group(request: Request, session: MappingLead) -> Response:
    return _form(request, _own(session), "/groups", values={})


@router.post("/groups/new")
async def define_own_group(
    request: Request, session: MappingLead, registration: Registration
) -> Response:
    return await _define(request, registration, session, _own(session), "/groups")


@router.get("/national/organisations/{code}/groups")
async def organisation_groups(
    request: Request,
    code: str,
    session: NationalReader,
    registration: Registration,
    done: str | None = None,
) -> Response:
    base = f"/national/organisations/{code}/groups"
    return await _list(request, registration, session, code, base, done)


@router.get("/national/organisations/{code}/groups/new")
async def new_group(request: Request, code: str, _: National) -> Response:
    return _form(request, code, f"/national/organisations/{code}/groups", values={})


@router.post("/national/organisations/{code}/groups/new")
async def define_group(
    request: Request, code: str, session: National, registration: Registration
) -> Response:
    base = f"/national/organisations/{code}/groups"
    return await _define(request, registration, session, code, base)
