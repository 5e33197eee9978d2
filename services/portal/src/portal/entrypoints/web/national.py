"""The national team: register an organisation and nominate its lead, and the organisations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.organisations import partnership_areas
from ...application.paging import keyset, plain_options
from ...application.words import KIND_NAMES, REGION_NAMES
from .deps import Questionnaires, Registration
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import National, NationalReader

router = APIRouter(default_response_class=HTMLResponse)


#: The forms' choices, in the words every page uses for them (application/words.py).
KINDS = [(str(k), name) for k, name in KIND_NAMES.items()]
REGIONS = [(str(r), name) for r, name in REGION_NAMES.items()]

ORG_FIELDS = {
    "code": ("code", "Organisation code"),
    "name": ("name", "Organisation name"),
    "kind": ("kind", "Type of organisation"),
    "region": ("region", "Region"),
    "partnership_areas": ("areas", "Partnership areas"),
    "linked_organisation_id": ("linked", "Linked organisation"),
    "mapped_by": ("mapped_by", "Mapped by"),
}
LEAD_FIELDS = {
    "email": ("lead_email", "Lead's email address"),
    "name": ("lead_name", "Lead's name"),
}


@router.get("/national")
async def home(request: Request, session: NationalReader, api: Questionnaires) -> Response:
    cycles = await api.cycles(session.token)
    return render(request, "national/home.html", title="National team", cycles=cycles)


def _org_form(request: Request, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "national/register.html",
        status,
        title="Register an organisation",
        kinds=KINDS,
        regions=REGIONS,
        **ctx,
    )


@router.get("/national/organisations/new")
async def register_page(request: Request, _: National) -> Response:
    return _org_form(request, values={})


@router.post("/national/organisations/new")
async def register(request: Request, session: National, registration: Registration) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    code = text(form, "code").upper()
    lead_name, lead_email = text(form, "lead_name"), text(form, "lead_email")
    # Ask for everything before registering, so a missing lead does not leave an
    # organisation half set up.
    for fid, label in (("code", "the organisation code"), ("name", "the organisation name")):
        if not text(form, fid):
            errors.add(fid, f"Enter {label}")
    for fid, label in (("kind", "the type of organisation"), ("region", "the region")):
        if not text(form, fid):
            errors.add(fid, f"Select {label}")
    if not lead_name:
        errors.add("lead_name", "Enter the mapping lead's name")
    if not lead_email:
        errors.add("lead_email", "Enter the mapping lead's email address")
    elif "@" not in lead_email:
        errors.add("lead_email", "Enter an email address in the correct format, like a@b.org")
    if errors:
        return _org_form(request, 422, errors=errors, values=values(form))
    areas = partnership_areas(text(form, "areas"))
    body = {
        "code": code,
        "name": text(form, "name"),
        "kind": text(form, "kind"),
        "region": text(form, "region"),
        "partnership_areas": areas,
    }
    try:
        await registration.register_organisation(session.token, body)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors.from_api(exc, ORG_FIELDS, fallback="code")
        return _org_form(request, 422, errors=errors, values=values(form))
    try:
        await registration.nominate_lead(session.token, code, lead_email, lead_name)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors.from_api(exc, LEAD_FIELDS, fallback="lead_email")
        return render(
            request,
            "national/lead.html",
            422,
            title="Nominate the mapping lead",
            code=code,
            errors=errors,
            values=values(form),
        )
    return RedirectResponse(f"/national/organisations/{code}?done=registered", status_code=303)


@router.get("/national/organisations/{code}/lead")
async def lead_page(request: Request, code: str, _: National) -> Response:
    return render(
        request, "national/lead.html", title="Nominate the mapping lead", code=code, values={}
    )


@router.post("/national/organisations/{code}/lead")
async def nominate(
    request: Request, code: str, session: National, registration: Registration
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    if not text(form, "lead_name"):
        errors.add("lead_name", "Enter the mapping lead's name")
    if not text(form, "lead_email"):
        errors.add("lead_email", "Enter the mapping lead's email address")
    if not errors:
        try:
            await registration.nominate_lead(
                session.token, code, text(form, "lead_email"), text(form, "lead_name")
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = FormErrors.from_api(exc, LEAD_FIELDS, fallback="lead_email")
        else:
            return RedirectResponse(f"/national/organisations/{code}?done=nominated", 303)
    return render(
        request,
        "national/lead.html",
        422,
        title="Nominate the mapping lead",
        code=code,
        errors=errors,
        values=values(form),
    )


@router.get("/national/organisations")
async def organisations(
    request: Request,
    session: NationalReader,
    registration: Registration,
    after: Annotated[str | None, Query(max_length=20)] = None,
    before: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query()] = None,
    kind: Annotated[str | None, Query()] = None,
) -> Response:
    # What no filter offers (a hand-edited address) shows the unfiltered list.
    params = {
        "region": region if region in dict(REGIONS) else None,
        "kind": kind if kind in dict(KINDS) else None,
    }
    page = await registration.organisations(
        session.token,
        after=after or None,
        before=None if after else (before or None),
        region=params["region"],
        kind=params["kind"],
        limit=50,
    )
    return render(
        request,
        "national/organisations.html",
        title="Organisations",
        page=page,
        regions=REGIONS,
        kinds=KINDS,
        params=params,
        region_items=plain_options(REGIONS, params["region"], "All regions"),
        kind_items=plain_options(KINDS, params["kind"], "All kinds"),
        kind_labels=dict(KINDS),
        region_labels=dict(REGIONS),
        pager=keyset(
            "/national/organisations",
            params,
            back=("before", page.previous_before) if page.previous_before else None,
            forward=("after", page.next_after) if page.next_after else None,
            cursors=("after", "before"),
        ),
        width="full",
    )


@router.get("/national/organisations/{code}")
async def organisation(
    request: Request,
    code: str,
    session: NationalReader,
    registration: Registration,
    done: str | None = None,
) -> Response:
    org = await registration.organisation(session.token, code)
    leads = await registration.lead_history(session.token, code)
    current = None
    if session.is_national and leads:
        # Whether the lead has set up their account (if not, a new set-up link can be sent).
        current = await registration.current_lead(session.token, code)
    return render(
        request,
        "national/organisation.html",
        title=org.name or code,
        org=org,
        leads=leads,
        current_lead=current,
        done=done,
    )
