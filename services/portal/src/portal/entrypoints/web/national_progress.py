"""The national team's watch on the cycle: participation by region and organisation (the
reporting service's cycle-progress report), and the notification delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...application.models import JsonObject
from .deps import Notifications, Reporting
from .national import REGIONS
from .rendering import render
from .session import NationalReader

router = APIRouter(default_response_class=HTMLResponse)

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


def _table(report: JsonObject, name: str) -> JsonObject:
    found = next((t for t in report.get("tables", []) if t.get("name") == name), None)
    return found or {"columns": [], "rows": []}


@router.get("/national/cycles/{cycle}/participation")
async def participation(
    request: Request,
    cycle: str,
    session: NationalReader,
    reporting: Reporting,
    region: Annotated[str | None, Query()] = None,
    done: str | None = None,
    org: str | None = None,
) -> Response:
    given = {"cycle": cycle, "region": region}
    report = await reporting.report(
        session.token, "cycle-progress", {k: v for k, v in given.items() if v}
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
    notification: Notifications,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed)?$")] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    page = await notification.notifications(session.token, status=status, before=before, limit=50)
    return render(
        request,
        "national/notifications.html",
        title="Notification delivery log",
        page=page,
        status=status,
        width="full",
    )
