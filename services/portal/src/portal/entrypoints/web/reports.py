"""Reports over the reporting service: the list of those the person may open, one report as
tables (with the charts declared for it, and grades as coloured cells), a picker for reports
about one area or organisation, and the report's files.

Tables are rendered generically from the service's JSON ({about, summary, tables: [{name,
title, columns: [{key, label}], rows}]}), so a new report needs no page of its own; charts are
declared per report in `application.chart_specs`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from ...application.chart_specs import REGION_NAMES, specs_for
from ...application.charts import charts_of
from ...application.errors import ApiError
from ...application.models import Cycle, JsonObject, ReportListing
from ...application.report_catalogue import companions, described, offers
from ...application.report_cells import cell
from ...application.returns import current_cycle
from .deps import Questionnaires, Reporting
from .national import REGIONS
from .rendering import FormErrors, render
from .session import Session, SignedIn

router = APIRouter(default_response_class=HTMLResponse)

PARAMETERS = ("cycle", "area", "organisation", "region", "q")
FIELDS = {p: (p, p.capitalize()) for p in PARAMETERS}
#: How many matches the picker lists at once (search narrows the rest).
PICKER_LIMIT = 50
SUBJECT_NAMES = {"area": "partnership area", "organisation": "organisation", "region": "region"}


@router.get("/reports")
async def reports(
    request: Request, session: SignedIn, reporting: Reporting, api: Questionnaires
) -> Response:
    listed = await reporting.reports(session.token)
    cycle = current_cycle(await api.cycles(session.token))
    return render(
        request,
        "reports/list.html",
        title="Reports",
        catalogue=offers(listed, cycle, session.organisation_id),
        cycle=cycle,
    )


def _params(
    cycle: str | None, area: str | None, organisation: str | None, region: str | None, q: str | None
) -> dict[str, str]:
    given = {"cycle": cycle, "area": area, "organisation": organisation, "region": region, "q": q}
    return {k: v.strip() for k, v in given.items() if v and v.strip()}


async def _listed(
    reporting: Reporting, session: Session, name: str
) -> tuple[ReportListing | None, list[ReportListing]]:
    """The report called `name` if the person may open it, and every report they may."""
    listed = await reporting.reports(session.token)
    return next((r for r in listed if r.name == name), None), listed


def _subject_of(about: ReportListing) -> str | None:
    """The parameter naming the report's subject that the person picks (None: nothing to
    pick, for national reports and a lead's own organisation)."""
    if about.scope in ("area", "organisation") and about.subject != "own":
        return about.scope
    return "region" if about.scope == "region" else None


@router.get("/reports/{name}")
async def report(
    request: Request,
    name: str,
    session: SignedIn,
    reporting: Reporting,
    api: Questionnaires,
    cycle: Annotated[str | None, Query()] = None,
    area: Annotated[str | None, Query()] = None,
    organisation: Annotated[str | None, Query()] = None,
    region: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
    find: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    params = _params(cycle, area, organisation, region, q)
    about, listed = await _listed(reporting, session, name)
    if about is None:
        return render(
            request,
            "errors/not_found.html",
            404,
            message=f"There is no report called {name} that you can open.",
        )
    cycles = await api.cycles(session.token)
    if about.needs_cycle and "cycle" not in params:
        current = current_cycle(cycles)
        if current is None:
            return render(request, "reports/no_cycle.html", title=about.title, about=about)
        params["cycle"] = current
    if about.scope == "organisation" and about.subject == "own" and session.organisation_id:
        params["organisation"] = session.organisation_id
    subject = _subject_of(about)
    if subject is not None and subject not in params:
        return await _picker(request, session, reporting, about, params, cycles, find)
    related = companions(about, listed, params)
    page: dict[str, Any] = {
        "title": about.title,
        "about": about,
        "params": params,
        "subject": subject,
        "cycles": cycles,
        "regions": REGIONS,
        "width": "full",
        "related": related,
        "description": described(about.description, related),
        "cell_text": cell,
    }
    try:
        data = await reporting.report(session.token, name, params)
    except ApiError as exc:
        if exc.status not in (404, 422):
            raise
        if exc.status == 404 and subject is not None:
            # A code the picker did not offer (typed into the address): pick again.
            errors = FormErrors()
            errors.add("find", f"There is no {SUBJECT_NAMES[subject]} {params[subject]}")
            params.pop(subject)
            return await _picker(request, session, reporting, about, params, cycles, find, errors)
        errors = FormErrors.from_api(exc, FIELDS, fallback="cycle")
        return render(request, "reports/report.html", exc.status, data=None, errors=errors, **page)
    charts = charts_of(specs_for(name), data.get("tables") or [])
    label = _subject_label(subject, params, data.get("about") or {})
    return render(
        request, "reports/report.html", data=data, charts=charts, subject_label=label, **page
    )


def _subject_label(subject: str | None, params: dict[str, str], about: JsonObject) -> str | None:
    """What the report is about, as people know it: "Anytown Council (00AA)"."""
    if subject is None:
        return None
    code = params.get(subject, "")
    if subject == "region":
        return REGION_NAMES.get(code, code)
    name = about.get(f"{subject}_name") or about.get("area_name") or about.get("organisation_name")
    return f"{name} ({code})" if name else code


async def _picker(
    request: Request,
    session: Session,
    reporting: Reporting,
    about: ReportListing,
    params: dict[str, str],
    cycles: list[Cycle],
    find: str | None,
    errors: FormErrors | None = None,
) -> Response:
    """Which area, organisation or region the report is to be about: a search over the
    subjects the person may pick (by name or code) and a list of the matches, as plain GET
    forms (search-as-you-type is the same page's enhancement)."""
    subject = _subject_of(about) or "region"
    choices = None
    if subject != "region":
        choices = await reporting.subjects(session.token, about.name, find, PICKER_LIMIT)
    return render(
        request,
        "reports/pick.html",
        404 if errors else 200,
        title=f"{about.title}: choose the {SUBJECT_NAMES[subject]}",
        about=about,
        description=described(about.description, []),
        params=params,
        subject=subject,
        subject_name=SUBJECT_NAMES[subject],
        choices=choices,
        find=find or "",
        cycles=cycles,
        regions=REGIONS,
        errors=errors,
    )


class Choice(BaseModel):
    """One subject the search found: its code (the report's parameter) and its name."""

    code: str
    name: str
    region: str | None = None


class Choices(BaseModel):
    """The first matches of a picker's search, and how many match in all."""

    subjects: list[Choice]
    total: int


@router.get(
    "/reports/{name}/choices",
    response_class=JSONResponse,
    response_model=Choices,
    responses={404: {"description": "No such report, or not one this person may open"}},
)
async def choices(
    name: str,
    session: SignedIn,
    reporting: Reporting,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The picker's search as you type: the subjects matching `q` that the person may pick."""
    about, _ = await _listed(reporting, session, name)
    if about is None or _subject_of(about) not in ("area", "organisation"):
        return JSONResponse({"error": f"no report {name} to pick a subject for"}, 404)
    found = await reporting.subjects(session.token, name, q, 20)
    return JSONResponse(found.model_dump())


#: The download's media types, as the reporting service sends them.
FILES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The report as a file: a CSV table, a ZIP of CSV tables, or XLSX",
        "content": {
            "text/csv": {},
            "application/zip": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
    }
}


@router.get("/reports/{name}/download", response_class=Response, responses=FILES)
async def download(
    request: Request,
    name: str,
    session: SignedIn,
    reporting: Reporting,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
    cycle: Annotated[str | None, Query()] = None,
    area: Annotated[str | None, Query()] = None,
    organisation: Annotated[str | None, Query()] = None,
    region: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
    table: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The report's file, fetched with the person's token (the browser has none to send):
    CSV is one table (`table`) or a ZIP of them all with a README; XLSX is one workbook."""
    params = {**_params(cycle, area, organisation, region, q), "format": format}
    if table and format == "csv":
        params["table"] = table
    file = await reporting.report_file(session.token, name, params)
    headers: dict[str, str] = {}
    if file.content_disposition is not None:
        headers["content-disposition"] = file.content_disposition
    return Response(file.content, media_type=file.content_type, headers=headers)
