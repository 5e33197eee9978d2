"""HTTP endpoints: the e-bulletin (the national team).

- `POST /bulletins`  `{"subject", "body", "filter": {"regions", "kinds", "organisation_ids"}}`:
  publish to every mapping lead, or those the filter picks (national-admin); 201 with its id
  and how many leads it goes to
- `GET  /bulletins`  those published, newest first, with their delivery (national-admin,
  auditor)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    #: How many emails were recorded (one per lead's address).
    recipients: int
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
    recipients: int
    delivery: BulletinDeliveryOut
    created_at: str
    created_by: str


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
    return await bulletins.publish(body.subject, body.body, audience, admin.actor)


@router.get(
    "/bulletins", response_model=list[BulletinOut], responses=error_responses(401, 403, 422)
)
async def list_bulletins(_: Reader, bulletins: BulletinsDep) -> list[dict[str, Any]]:
    return await bulletins.list()
