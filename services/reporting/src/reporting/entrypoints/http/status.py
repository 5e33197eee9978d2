"""How far behind each projection is (JSON; the same reaches Prometheus through the kernel's
/metrics, `adapters.metrics`), and rebuilding one on request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.http import OrjsonResponse, error_responses
from csm_kernel.runtime import Runtime, runtime_of
from csm_kernel.status import kernel_status

from ...application.projection import Progress
from .dependencies import ReportingDep

router = APIRouter(tags=["status"])


class RebuildProgress(BaseModel):
    """How far a rebuild of a projection has got."""

    position: int
    head: int
    events_per_second: int
    eta_seconds: float | None


class ProjectionStatus(BaseModel):
    """One projection's position and lag behind the journal."""

    projection: str
    position: int
    events_behind: int
    seconds_behind: float
    rebuilding: bool
    built_at: datetime | None
    updated_at: datetime | None
    #: Only while this process is rebuilding it.
    rebuild: RebuildProgress | None = None


class ReportingStatus(BaseModel):
    """What every service's `/status` says (loops, consumers: see the kernel), with the
    journal's head and each projection's status."""

    model_config = ConfigDict(extra="allow")

    journal_head: int
    projections: list[ProjectionStatus]


class RebuildStarted(BaseModel):
    """Which projections are being rebuilt."""

    status: str
    projections: str


@router.get("/status", response_model=ReportingStatus)
async def status(
    reporting: ReportingDep,
    runtime: Annotated[Runtime, Depends(runtime_of)],
) -> Response:
    """What every service's `/status` says (loops, consumers), and each projection's
    position, lag (events and seconds behind the journal) and whether it is being rebuilt
    (with the rebuild's progress)."""
    lags = await reporting.admin.lags()
    return OrjsonResponse(
        {
            **await kernel_status(runtime),
            "journal_head": lags[0].head if lags else 0,
            "projections": [
                {
                    "projection": lag.projection,
                    "position": lag.position,
                    "events_behind": lag.events_behind,
                    "seconds_behind": round(lag.seconds_behind, 3),
                    "rebuilding": lag.rebuilding,
                    "built_at": lag.built_at,
                    "updated_at": lag.updated_at,
                    **_progress(reporting.admin.progress(lag.projection)),
                }
                for lag in lags
            ],
        }
    )


def _progress(p: Progress | None) -> dict[str, dict[str, float | None]]:
    if p is None or p.position >= p.head:
        return {}
    return {
        "rebuild": {
            "position": p.position,
            "head": p.head,
            "events_per_second": round(p.rate),
            "eta_seconds": round(p.eta, 1) if p.eta is not None else None,
        }
    }


@router.post(
    "/projections/{name}/rebuild",
    status_code=202,
    response_model=RebuildStarted,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def rebuild(
    name: str,
    reporting: ReportingDep,
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> RebuildStarted:
    """Rebuild one projection (or `all`) from the journal beside the live one, then swap."""
    names = reporting.admin.rebuild(name)
    return RebuildStarted(status="rebuilding", projections=", ".join(names))
