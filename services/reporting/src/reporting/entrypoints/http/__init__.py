"""The reporting service's HTTP API."""

from __future__ import annotations

from .organisations import router as organisations_router
from .participation import router as participation_router
from .reports import router as reports_router
from .status import router as status_router

ROUTERS = [reports_router, status_router, organisations_router, participation_router]
