"""The national team's watch on the cycle: participation per organisation, and the
notification delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .rendering import render
from .session import NationalReader

router = APIRouter()


@router.get("/national/cycles/{cycle}/participation")
async def participation(request: Request, cycle: str, session: NationalReader) -> Response:
    api = request.app.state.portal.apis.questionnaire
    returns = await api.get(f"/cycles/{cycle}/returns", token=session.token)
    signed = sum(1 for r in returns if r.get("signed_off_at"))
    return render(request, "national/participation.html", title=f"{cycle} participation",
                  cycle=cycle, returns=returns, signed=signed, width="full")  # fmt: skip


@router.get("/national/notifications")
async def notifications(
    request: Request,
    session: NationalReader,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed)?$")] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    api = request.app.state.portal.apis.notification
    page = await api.get("/notifications", token=session.token,
                         params={"status": status, "before": before, "limit": 50})  # fmt: skip
    return render(request, "national/notifications.html", title="Notification delivery log",
                  page=page, status=status, width="full")  # fmt: skip
