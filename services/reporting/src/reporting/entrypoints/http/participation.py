"""Participation in a cycle, one page at a time, or the filtered list as a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_kernel.auth import Principal, require
from csm_kernel.http import error_responses

from ...application.participation import (
    ParticipationQuery,
    ReturnStatus,
    SortKey,
)
from .dependencies import ReportingDep
from .downloads import download

router = APIRouter(tags=["participation"])


class ParticipationRowBody(BaseModel):
    """One organisation's return in the cycle."""

    organisation_id: str
    code: str
    name: str | None
    kind: str | None
    region: str | None
    #: not-started, in-progress, submitted or signed-off.
    status: ReturnStatus
    issued: int
    submitted: int
    percent_complete: float | None
    signed_off_at: datetime | None
    #: The close, or the organisation's extension if later.
    deadline: datetime | None
    extension_until: datetime | None
    reopenings: int
    last_activity: datetime | None
    overdue: bool


class ParticipationBody(BaseModel):
    """One page of the filtered organisations, how many the filters leave (`total`), how
    many each filter's values would show with the other filters as asked (`counts`), and the
    whole cycle's figures (`summary`)."""

    cycle: str
    phase: str
    data_entry_closes: datetime
    as_at: datetime
    total: int
    page: int
    per_page: int
    pages: int
    rows: list[ParticipationRowBody]
    counts: dict[str, dict[str, int]]
    summary: dict[str, int]


_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The page as JSON, or every filtered organisation as a CSV download "
        "(`format=csv`; the page parameters are then ignored).",
        "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/cycles/{cycle}/participation",
    response_model=ParticipationBody,
    responses={**_FILE, **error_responses(401, 403, 404, 422)},
)
async def participation(
    cycle: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")],
    reporting: ReportingDep,
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR))],
    region: Region | None = None,
    kind: OrganisationKind | None = None,
    status: ReturnStatus | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: SortKey = SortKey.NAME,
    order: Literal["asc", "desc"] = "asc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 25,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Every organisation owing a return in the cycle: `status` (not started, in progress,
    submitted, signed off, or the flags overdue, extended, reopened), `region`, `kind` and
    `q` (part of the name or code) filter; `sort` and `order` sort (the code breaks ties);
    `page` and `per_page` page. 404 when there is no such cycle."""
    query = ParticipationQuery(
        cycle=cycle,
        region=region.value if region else None,
        kind=kind.value if kind else None,
        status=status,
        search=(q or "").strip() or None,
        sort=sort,
        descending=order == "desc",
        page=page,
        per_page=per_page,
    )
    now = datetime.now(UTC)
    if format == "csv":
        filename, body = await reporting.participation.download(query, now)
        return download(body, "text/csv; charset=utf-8", filename)
    found = await reporting.participation.page(query, now)
    return Response(
        ParticipationBody(
            cycle=found.cycle,
            phase=found.phase,
            data_entry_closes=found.data_entry_closes,
            as_at=found.as_at,
            total=found.total,
            page=page,
            per_page=per_page,
            pages=max(1, -(-found.total // per_page)),
            rows=[ParticipationRowBody.model_validate(r, from_attributes=True) for r in found.rows],
            counts={k: dict(v) for k, v in found.counts.items()},
            summary=dict(found.summary),
        ).model_dump_json(),
        media_type="application/json",
    )
