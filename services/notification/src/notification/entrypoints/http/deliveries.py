"""HTTP endpoints: the delivery log (the national team and auditors).

- `GET  /notifications`               who was sent what, when, why and how it went; newest first,
                                      filtered, a page at a time (`before`: the `next` cursor;
                                      `after`: the `previous` cursor, going back)
- `GET  /notifications/summary`       counts by kind and status, and the failures to look at
- `GET  /notifications/{id}`          one email: attempts, last error, SMTP code, its cause
- `POST /notifications/{id}/retry`    put a failed email back in the queue (national admin)

No link or token is ever shown: they are made when the email is written and kept nowhere, and
the stored template context (which holds the ids links are made from) is not part of any view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.bounds import IDENTIFIER_LENGTH
from csm_kernel.http import error_responses

from ...application.ports import Delivery, DeliveryFilter
from .deps import DeliveriesDep

router = APIRouter(tags=["deliveries"])

Reader = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR))]
Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]

Status = Literal["pending", "sent", "failed"]


class DeliveryPage(BaseModel):
    items: list[Delivery]
    #: The cursor of the following page (`before`); null at the end.
    next: str | None
    #: The cursor of the page before (`after`); null at the start.
    previous: str | None = None


class StatusCounts(BaseModel):
    pending: int
    sent: int
    failed: int


class DeliverySummary(BaseModel):
    totals: StatusCounts
    by_kind: dict[str, StatusCounts]
    #: Pending emails that have already failed an attempt (the server refusing for now).
    pending_with_errors: int
    failed: list[Delivery]


@router.get("/notifications", response_model=DeliveryPage, responses=error_responses(401, 403, 422))
async def list_notifications(
    _: Reader,
    deliveries: DeliveriesDep,
    organisation_id: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    kind: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    status: Status | None = None,
    recipient: Annotated[str | None, Query(max_length=254)] = None,
    caused_by: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    before: Annotated[
        str | None, Query(max_length=200, description="the `next` cursor of a page")
    ] = None,
    after: Annotated[
        str | None,
        Query(max_length=200, description="the `previous` cursor of a page: going back"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Deliveries, newest first. `next` is the cursor of the following page (null at the end),
    `previous` of the page before (null at the start)."""
    where = DeliveryFilter(organisation_id, kind, status, recipient, caused_by, since)
    return await deliveries.page(where, before, limit, after)


@router.get(
    "/notifications/summary",
    response_model=DeliverySummary,
    responses=error_responses(401, 403, 422),
)
async def summary(
    _: Reader,
    deliveries: DeliveriesDep,
    organisation_id: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    failures: Annotated[int, Query(ge=0, le=500, description="how many failures to list")] = 100,
) -> dict[str, Any]:
    """How many emails of each kind are pending, sent and failed; the latest failures, and the
    pending ones that have already failed an attempt (the SMTP server refusing for now)."""
    return await deliveries.summary(organisation_id, since, failures)


@router.get(
    "/notifications/{notification_id}",
    response_model=Delivery,
    responses=error_responses(401, 403, 404, 422),
)
async def get_notification(
    notification_id: str, _: Reader, deliveries: DeliveriesDep
) -> dict[str, Any]:
    return await deliveries.get(notification_id)


@router.post(
    "/notifications/{notification_id}/retry",
    response_model=Delivery,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def retry_notification(
    notification_id: str, admin: Admin, deliveries: DeliveriesDep
) -> dict[str, Any]:
    """A failed email back to `pending`, due now, with a fresh set of attempts (its earlier
    ones are in its `NotificationFailed` event). Its next outcome becomes its stream's next
    event. Only a failed one: a sent email is never sent again from here."""
    return await deliveries.retry(notification_id, admin.actor)
