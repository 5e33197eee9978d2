"""Reports over the reporting service: the list, one report as tables (with bar charts where
people would rather look than read, and grades as coloured cells), and its CSV/XLSX files.

Tables are rendered generically from the service's JSON ({about, summary, tables: [{title,
columns: [{key, label}], rows}]}), so a new report needs no page of its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...application.charts import Chart, chart_of
from ...application.errors import ApiError
from ...application.returns import current_cycle
from .deps import Questionnaires, Reporting
from .national import REGIONS
from .rendering import FormErrors, render
from .session import SignedIn

router = APIRouter(default_response_class=HTMLResponse)

#: Reports whose tables are also drawn as bar charts.
CHARTED = ("locality-profile", "cycle-progress", "camhs-partnership", "annual-report")
PARAMETERS = ("cycle", "area", "organisation", "region", "q")
FIELDS = {p: (p, p.capitalize()) for p in PARAMETERS}


@router.get("/reports")
async def reports(
    request: Request, session: SignedIn, reporting: Reporting, api: Questionnaires
) -> Response:
    listed = await reporting.reports(session.token)
    cycles = await api.cycles(session.token)
    return render(
        request,
        "reports/list.html",
        title="Reports",
        reports=listed,
        cycle=current_cycle(cycles),
        width="full",
    )


def _params(
    cycle: str | None, area: str | None, organisation: str | None, region: str | None, q: str | None
) -> dict[str, str]:
    given = {"cycle": cycle, "area": area, "organisation": organisation, "region": region, "q": q}
    return {k: v.strip() for k, v in given.items() if v and v.strip()}


@router.get("/reports/{name}")
async def report(
    request: Request,
    name: str,
    session: SignedIn,
    reporting: Reporting,
    cycle: Annotated[str | None, Query()] = None,
    area: Annotated[str | None, Query()] = None,
    organisation: Annotated[str | None, Query()] = None,
    region: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
) -> Response:
    params = _params(cycle, area, organisation, region, q)
    listed = await reporting.reports(session.token)
    about = next((r for r in listed if r.name == name), None)
    if about is None:
        return render(request, "errors/not_found.html", 404, message=f"No report called {name}.")
    if not params.get("organisation") and about.scope == "organisation":
        params.setdefault("organisation", session.organisation_id or "")
    try:
        data = await reporting.report(session.token, name, params)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors.from_api(exc, FIELDS, fallback="cycle")
        return render(
            request,
            "reports/report.html",
            422,
            title=about.title,
            about=about,
            data=None,
            params=params,
            errors=errors,
            regions=REGIONS,
            width="full",
        )
    charts: list[Chart] = []
    if name in CHARTED:
        charts = [c for c in (chart_of(t) for t in data.get("tables", [])) if c is not None]
    return render(
        request,
        "reports/report.html",
        title=about.title,
        about=about,
        data=data,
        params=params,
        charts=charts,
        regions=REGIONS,
        width="full",
    )


#: The download's media types, as the reporting service sends them.
FILES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The report as a file",
        "content": {
            "text/csv": {},
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
) -> Response:
    """The report's file, fetched with the person's token (the browser has none to send)."""
    params = {**_params(cycle, area, organisation, region, q), "format": format}
    file = await reporting.report_file(session.token, name, params)
    headers: dict[str, str] = {}
    if file.content_disposition is not None:
        headers["content-disposition"] = file.content_disposition
    return Response(file.content, media_type=file.content_type, headers=headers)
