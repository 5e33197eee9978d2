"""How far behind each projection is (JSON and Prometheus), and rebuilding one on request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.errors import Conflict, NotFound
from csm_kernel.http import OrjsonResponse
from csm_kernel.runtime import Runtime, runtime_of
from csm_kernel.status import kernel_status

from ...services import Services
from .dependencies import services_of

router = APIRouter(tags=["status"])


@router.get("/status")
async def status(
    services: Annotated[Services, Depends(services_of)],
    runtime: Annotated[Runtime, Depends(runtime_of)],
) -> Response:
    """What every service's `/status` says (loops, consumers), and each projection's
    position, lag (events and seconds behind the journal) and whether it is being rebuilt
    (with the rebuild's progress)."""
    lags = await services.projector.lags()
    progress = services.projector.progress
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
                    **_progress(progress.get(lag.projection)),
                }
                for lag in lags
            ],
        }
    )


def _progress(p: Any) -> dict[str, Any]:
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


@router.get("/metrics")
async def metrics(services: Annotated[Services, Depends(services_of)]) -> Response:
    """Prometheus text: `csm_projection_lag_events` and `csm_projection_lag_seconds`."""
    registry = CollectorRegistry()
    events = Gauge("csm_projection_lag_events", "Journal events not yet applied",
                   ["projection"], registry=registry)  # fmt: skip
    seconds = Gauge("csm_projection_lag_seconds", "Age of the oldest event not yet applied",
                    ["projection"], registry=registry)  # fmt: skip
    position = Gauge("csm_projection_position", "Last journal position applied",
                     ["projection"], registry=registry)  # fmt: skip
    for lag in await services.projector.lags():
        events.labels(lag.projection).set(lag.events_behind)
        seconds.labels(lag.projection).set(lag.seconds_behind)
        position.labels(lag.projection).set(lag.position)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/projections/{name}/rebuild", status_code=202)
async def rebuild(
    name: str,
    services: Annotated[Services, Depends(services_of)],
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> dict[str, str]:
    """Rebuild one projection (or `all`) from the journal beside the live one, then swap."""
    names = list(services.projector.projections) if name == "all" else [name]
    for n in names:
        if n not in services.projector.projections:
            raise NotFound(f"no projection called {n!r}")
        if n in services.projector.rebuilding:
            raise Conflict(f"{n} is already being rebuilt")
    services.start_rebuild(names)
    return {"status": "rebuilding", "projections": ", ".join(names)}
