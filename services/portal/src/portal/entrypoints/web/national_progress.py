"""The national team's watch on the cycle: participation by region and organisation (the
reporting service's cycle-progress report), and the notification delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .national import REGIONS
from .rendering import render
from .session import NationalReader

router = APIRouter()

#: The organisation table's columns worth a screen's width; the download has them all.
ORG_COLUMNS = (
    "region",
    "code",
    "name",
    "issued",
    "submitted",
    "percent_complete",
    "signed_off",
    "deadline",
    "extension_until",
    "reopenings",
)


def _table(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = next((t for t in report.get("tables", []) if t.get("name") == name), None)
    return found or {"columns": [], "rows": []}


@router.get("/national/cycles/{cycle}/participation")
async def participation(
    request: Request,
    cycle: str,
    session: NationalReader,
    region: Annotated[str | None, Query()] = None,
    done: str | None = None,
    org: str | None = None,
) -> Response:
    report = await request.app.state.portal.apis.reporting.get(
        "/reports/cycle-progress", token=session.token, params={"cycle": cycle, "region": region}
    )
    organisations = _table(report, "organisations")
    labels = {c["key"]: c["label"] for c in organisations["columns"]}
    return render(
        request,
        "national/participation.html",
        title=f"{cycle} participation",
        cycle=cycle,
        summary=report.get("summary", {}),
        regions_table=_table(report, "regions"),
        org_rows=organisations["rows"],
        org_columns=[(k, labels.get(k, k)) for k in ORG_COLUMNS],
        regions=REGIONS,
        region=region,
        done=done,
        org=org,
        width="full",
    )


@router.get("/national/notifications")
async def notifications(
    request: Request,
    session: NationalReader,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed)?$")] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    api = request.app.state.portal.apis.notification
    page = await api.get(
        "/notifications",
        token=session.token,
        params={"status": status, "before": before, "limit": 50},
    )
    return render(
        request,
        "national/notifications.html",
        title="Notification delivery log",
        page=page,
        status=status,
        width="full",
    )
