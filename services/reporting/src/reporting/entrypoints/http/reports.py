"""Every report over HTTP: JSON, or CSV and XLSX downloads, live or as at a moment.

The route parses the query string and renders what `ReportQueries` answers; which report,
which moment, who may read it and what the file is called are the use case's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, JsonValue, ValidationError

from csm_kernel.auth import Principal, current_principal
from csm_kernel.http import OrjsonResponse, error_responses

from ...application.report_queries import (
    MEDIA_TYPES,
    ReportAnswer,
    ReportParameters,
    report_body,
)
from ...application.reports import Scope
from .dependencies import ReportingDep
from .downloads import download

router = APIRouter(tags=["reports"])


class ReportEntry(BaseModel):
    """One report of the catalogue."""

    name: str
    title: str
    description: str
    scope: Scope
    needs_cycle: bool
    projections: list[str]
    #: For an area or organisation report: whether the caller may pick any subject, or only
    #: their own organisation (`own`, a lead's); null for national reports.
    subject: Literal["any", "own"] | None = None
    #: What the optional parameters do (the description is for people and names no
    #: parameter; it names companion reports by their titles, in quotes).
    options: str = ""
    #: Companion reports (names): those among the caller's list may be offered beside it.
    see_also: list[str] = []


class SubjectBody(BaseModel):
    """An area or organisation a report can be about."""

    code: str
    name: str
    region: str | None


class SubjectsBody(BaseModel):
    """The subjects matching a search, the first `limit`, and how many match in all."""

    subjects: list[SubjectBody]
    total: int


class ColumnBody(BaseModel):
    """One column of a table: its key in each row and the label people read."""

    key: str
    label: str


class TableBody(BaseModel):
    """One table of a report."""

    name: str
    title: str
    columns: list[ColumnBody]
    rows: list[dict[str, JsonValue]]


class ReportBody(BaseModel):
    """A report as JSON: headline figures, tables, and what it covers and when (`about`)."""

    report: str
    title: str
    about: dict[str, JsonValue]
    summary: dict[str, JsonValue]
    tables: list[TableBody]


#: The files a report also comes as (`format=csv` or `format=xlsx`).
_FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, or as a download (`format`): XLSX; CSV as a ZIP of"
        " one CSV per table with a README, or one table's CSV with `table`.",
        "content": {
            MEDIA_TYPES["csv"]: {"schema": {"type": "string"}},
            MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            MEDIA_TYPES["zip"]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/reports", response_model=list[ReportEntry], responses=error_responses(401))
async def list_reports(
    reporting: ReportingDep,
    principal: Annotated[Principal, Depends(current_principal)],
) -> list[ReportEntry]:
    """The reports the caller may open (by the same rule `GET /reports/{name}` applies): name,
    title, what each is about, which parameters it needs, and whose subjects the caller may
    ask about."""
    return [
        ReportEntry(
            name=r.name,
            title=r.title,
            description=r.description,
            scope=r.scope,
            needs_cycle=r.needs_cycle,
            projections=list(r.projections),
            subject=access if r.scope in (Scope.AREA, Scope.ORGANISATION) else None,
            options=r.options,
            see_also=list(r.see_also),
        )
        for r, access in reporting.reports.readable(principal)
    ]


@router.get(
    "/reports/{name}/subjects",
    response_model=SubjectsBody,
    responses=error_responses(401, 403, 404, 422),
)
async def subjects(
    name: str,
    reporting: ReportingDep,
    principal: Annotated[Principal, Depends(current_principal)],
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SubjectsBody:
    """What the caller may pick as an area or organisation report's subject, matching `q`
    (code or name, anywhere, any case): every area; every organisation, or a lead's own."""
    page = await reporting.reports.subject_choices(name, principal, q, limit)
    return SubjectsBody(
        subjects=[SubjectBody(code=s.code, name=s.name, region=s.region) for s in page.subjects],
        total=page.total,
    )


def _documented(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters."""
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in schema["properties"].items()
    ]


def _parameters(request: Request) -> ReportParameters:
    """The query string checked in one pydantic call. FastAPI's own parsing of eight declared
    query parameters (or of a query model) measured 0.2-0.5 ms of CPU a request, a tenth of a
    locality profile's; the errors are the same 422 naming `query.<field>`."""
    try:
        return ReportParameters.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from None


@router.get(
    "/reports/{name}",
    response_model=ReportBody,
    responses={**_FILES, **error_responses(401, 403, 404, 422)},
    openapi_extra={"parameters": _documented(ReportParameters)},
)
async def report(
    name: str,
    http_request: Request,
    reporting: ReportingDep,
    principal: Annotated[Principal, Depends(current_principal)],
) -> Response:
    """One report. `as_at` replays the events up to that moment instead of reading the live
    tables; `moment` names one instead (the cycle's summary reports or close, or the
    organisation's sign-off); `format` picks JSON, CSV or XLSX (the files say what they cover
    and when)."""
    answer = await reporting.reports.report(name, _parameters(http_request), principal)
    if isinstance(answer, ReportAnswer):
        return OrjsonResponse(_json(answer))
    return download(answer.body, answer.media_type, answer.filename)


def _json(answer: ReportAnswer) -> dict[str, object]:
    """The JSON body of a report (`ReportBody`), built as plain data: orjson writes it."""
    return report_body(answer)
