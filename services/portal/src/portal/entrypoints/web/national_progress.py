"""The national team's watch on the cycle: participation, organisation by organisation, a page
at a time (filtered, searched, sorted and paged by the reporting service), its CSV download,
and the notification delivery log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...application.paging import (
    counted_options,
    keyset,
    link,
    numbered,
    plain_options,
    sort_headers,
)
from ...application.participation import PER_PAGE, SORTS, STATUS_LABELS, STATUSES
from .deps import Notifications, Reporting
from .national import KINDS, REGIONS
from .rendering import render
from .session import NationalReader

router = APIRouter(default_response_class=HTMLResponse)


def _choice(value: str | None, allowed: Iterable[str]) -> str | None:
    # A hand-edited address with a value no filter offers shows the unfiltered list.
    return value if value in set(allowed) else None


def _participation_params(request: Request) -> dict[str, str | None]:
    """The page's filters and sort from its query string, each checked against what the
    form offers; what the reporting service is asked for."""
    got = request.query_params
    search = (got.get("q") or "").strip()[:100] or None
    return {
        "region": _choice(got.get("region"), (v for v, _ in REGIONS)),
        "kind": _choice(got.get("kind"), (v for v, _ in KINDS)),
        "status": _choice(got.get("status"), STATUS_LABELS),
        "q": search,
        "sort": _choice(got.get("sort"), (k for k, _ in SORTS)) or "name",
        "order": "desc" if got.get("order") == "desc" else "asc",
    }


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


@router.get("/national/cycles/{cycle}/participation")
async def participation(
    request: Request,
    cycle: str,
    session: NationalReader,
    reporting: Reporting,
    done: str | None = None,
    org: str | None = None,
) -> Response:
    params = _participation_params(request)
    page_number = _page_number(request)
    found = await reporting.participation(
        session.token, cycle, {**params, "page": page_number, "per_page": PER_PAGE}
    )
    path = f"/national/cycles/{cycle}/participation"
    filtered = any(params[k] for k in ("region", "kind", "status", "q"))
    return render(
        request,
        "national/participation.html",
        title=f"{cycle} participation",
        cycle=cycle,
        found=found,
        params=params,
        filtered=filtered,
        pager=numbered(path, params, found.page, found.pages),
        headers=sort_headers(
            path,
            params,
            SORTS,
            sort=str(params["sort"]),
            descending=params["order"] == "desc",
        ),
        sorted_by=dict(SORTS)[str(params["sort"])],
        region_items=counted_options(
            REGIONS, params["region"], found.counts.get("region", {}), "All regions"
        ),
        kind_items=counted_options(
            KINDS, params["kind"], found.counts.get("kind", {}), "All kinds"
        ),
        status_items=counted_options(
            STATUSES, params["status"], found.counts.get("status", {}), "Any status"
        ),
        status_links=[
            (
                value,
                text,
                found.counts.get("status", {}).get(value, 0),
                link(path, params, status=value),
            )
            for value, text in STATUSES
        ],
        status_labels=STATUS_LABELS,
        kind_labels=dict(KINDS),
        region_labels=dict(REGIONS),
        download=link(f"{path}.csv", params),
        done=done,
        org=org,
        width="full",
    )


@router.get("/national/cycles/{cycle}/participation.csv")
async def participation_download(
    request: Request, cycle: str, session: NationalReader, reporting: Reporting
) -> Response:
    """Every organisation the page's filters leave, as the reporting service writes it."""
    file = await reporting.participation_file(session.token, cycle, _participation_params(request))
    headers: dict[str, str] = {}
    if file.content_disposition is not None:
        headers["content-disposition"] = file.content_disposition
    return Response(file.content, media_type=file.content_type, headers=headers)


#: The delivery log's statuses, and its kinds of email (the notification service's templates).
NOTIFICATION_STATUSES = (("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed"))
NOTIFICATION_KINDS = tuple(
    (k, k.replace("-", " ").capitalize())
    for k in (
        "account-set-up",
        "delegation-invitation",
        "delegation-revoked",
        "questionnaire-returned",
        "questionnaire-sent-back",
        "sign-off-confirmation",
        "return-reopened",
        "lead-replaced",
        "deadline-reminder",
        "bulletin",
    )
)


@router.get("/national/notifications")
async def notifications(
    request: Request,
    session: NationalReader,
    notification: Notifications,
    before: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    got = request.query_params
    recipient = (got.get("recipient") or "").strip()[:254] or None
    params: dict[str, str | None] = {
        "status": _choice(got.get("status"), (v for v, _ in NOTIFICATION_STATUSES)),
        "kind": _choice(got.get("kind"), (v for v, _ in NOTIFICATION_KINDS)),
        "recipient": recipient,
    }
    page = await notification.notifications(
        session.token,
        status=params["status"],
        before=before or None,
        after=None if before else (after or None),
        limit=50,
        recipient=recipient,
        kind=params["kind"],
    )
    return render(
        request,
        "national/notifications.html",
        title="Notification delivery log",
        page=page,
        params=params,
        status_items=plain_options(NOTIFICATION_STATUSES, params["status"], "Any status"),
        kind_items=plain_options(NOTIFICATION_KINDS, params["kind"], "Every kind"),
        pager=keyset(
            "/national/notifications",
            params,
            back=("after", page.previous) if page.previous else None,
            forward=("before", page.next) if page.next else None,
            cursors=("before", "after"),
        ),
        width="full",
    )
