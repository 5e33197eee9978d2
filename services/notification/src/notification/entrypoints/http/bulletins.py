"""HTTP endpoints: the e-bulletin (the national team).

- `POST /bulletins`  `{"subject", "body", "filter": {"regions", "kinds", "organisation_ids",
  "not_signed_off_in"}, "send_at"}`: publish to every mapping lead, or those the filter picks
  (national-admin); 201 with its id and how many leads it went to, or, with `send_at` (in the
  future, within a year), scheduled: its recipients are worked out when it is sent
- `GET  /bulletins`  those waiting for their time (soonest first), then the rest (newest
  first), with their delivery (national-admin, auditor); `GET /bulletins/{id}` one
- `POST /bulletins/{id}/send`  send a scheduled bulletin now (national-admin; 409 if it was
  sent or cancelled, 422 if no lead matches now)
- `POST /bulletins/{id}/cancel`  cancel a scheduled bulletin (national-admin; 409 if it was
  sent or cancelled)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.bounds import IDENTIFIER_LENGTH
from csm_kernel.http import error_responses

from ...application.bulletins import MAX_BODY, MAX_SUBJECT, BulletinFilter
from .deps import BulletinsDep

router = APIRouter(tags=["bulletins"])

Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
Reader = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR))]

#: A region, a kind or an organisation code, as the filter names them.
Word = Annotated[str, StringConstraints(max_length=IDENTIFIER_LENGTH)]
#: Most organisations one bulletin names (more than are registered).
MAX_ORGANISATIONS = 10_000


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Plain strings: the application names an unknown region or kind and lists the known ones.
    regions: list[Word] = Field(
        default_factory=list, max_length=50, examples=[["north-west", "london"]]
    )
    kinds: list[Word] = Field(
        default_factory=list, max_length=50, examples=[["pct", "local-authority"]]
    )
    organisation_ids: list[Word] = Field(
        default_factory=list, max_length=MAX_ORGANISATIONS, examples=[["5A4"]]
    )
    not_signed_off_in: Word | None = Field(
        default=None,
        examples=["2009-10"],
        description="a cycle: only leads whose return for it is not signed off yet",
    )


class BulletinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=MAX_SUBJECT, examples=["The 2009-10 mapping opens"])
    body: str = Field(
        max_length=MAX_BODY, description="plain text; paragraphs separated by blank lines"
    )
    filter: FilterIn | None = None
    send_at: AwareDatetime | None = Field(
        default=None,
        examples=["2026-12-07T08:00:00Z"],
        description="send it then rather than now: in the future, within a year; its "
        "recipients are worked out when it is sent",
    )


class FilterOut(BaseModel):
    """The filter as applied: each list sorted, without repeats; empty lists do not narrow."""

    regions: list[str]
    kinds: list[str]
    organisation_ids: list[str]
    not_signed_off_in: str | None = None


class Published(BaseModel):
    id: str
    subject: str
    filter: FilterOut
    #: `sent`, or `scheduled` (for `send_at`).
    status: str
    send_at: str | None
    #: How many emails were recorded (one per lead's address); null while scheduled.
    recipients: int | None
    created_at: str
    created_by: str


class BulletinDeliveryOut(BaseModel):
    pending: int
    sent: int
    failed: int


class BulletinOut(BaseModel):
    id: str
    subject: str
    body: str
    filter: FilterOut
    #: `scheduled` (waiting for `send_at`), `sent` or `cancelled`.
    status: str
    #: When it was scheduled for (null: sent when written).
    send_at: str | None
    #: Addresses emailed; null until it is sent.
    recipients: int | None
    delivery: BulletinDeliveryOut
    created_at: str
    created_by: str
    sent_at: str | None
    #: Who sent it: its author, whoever sent it early, or the scheduler.
    sent_by: str | None
    cancelled_at: str | None
    cancelled_by: str | None


@router.post(
    "/bulletins",
    status_code=201,
    response_model=Published,
    responses=error_responses(401, 403, 413, 422),
)
async def publish_bulletin(
    body: BulletinIn, admin: Admin, bulletins: BulletinsDep
) -> dict[str, Any]:
    audience = (
        BulletinFilter(
            body.filter.regions,
            body.filter.kinds,
            body.filter.organisation_ids,
            body.filter.not_signed_off_in,
        )
        if body.filter
        else None
    )
    return await bulletins.publish(body.subject, body.body, audience, admin.actor, body.send_at)


@router.get(
    "/bulletins", response_model=list[BulletinOut], responses=error_responses(401, 403, 422)
)
async def list_bulletins(_: Reader, bulletins: BulletinsDep) -> list[dict[str, Any]]:
    return await bulletins.list()


BulletinId = Annotated[str, Path(max_length=IDENTIFIER_LENGTH)]


@router.get(
    "/bulletins/{bulletin_id}",
    response_model=BulletinOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get_bulletin(
    bulletin_id: BulletinId, _: Reader, bulletins: BulletinsDep
) -> dict[str, Any]:
    return await bulletins.get(bulletin_id)


@router.post(
    "/bulletins/{bulletin_id}/send",
    response_model=BulletinOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def send_bulletin_now(
    bulletin_id: BulletinId, admin: Admin, bulletins: BulletinsDep
) -> dict[str, Any]:
    return await bulletins.send_now(bulletin_id, admin.actor)


@router.post(
    "/bulletins/{bulletin_id}/cancel",
    response_model=BulletinOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def cancel_bulletin(
    bulletin_id: BulletinId, admin: Admin, bulletins: BulletinsDep
) -> dict[str, Any]:
    return await bulletins.cancel(bulletin_id, admin.actor)
