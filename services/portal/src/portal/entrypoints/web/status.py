"""`GET /status`: what an ops engineer asks of the portal (every service has one): its version,
when it started, and whether each service it calls is ready."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from csm_kernel.status import service_version

from .deps import portal_of

router = APIRouter()

STARTED_AT = datetime.now(UTC)


@router.get("/status", include_in_schema=False)
async def status(request: Request) -> dict[str, Any]:
    services = await portal_of(request).peers.readiness()
    return {
        "service": "portal",
        "version": service_version("portal"),
        "started_at": STARTED_AT.isoformat(),
        "services": services,
        "healthy": all(answer == "ready" for answer in services.values()),
    }
