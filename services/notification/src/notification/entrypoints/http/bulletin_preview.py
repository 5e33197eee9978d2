"""HTTP endpoint: a bulletin previewed before it is sent (the national team).

- `POST /bulletins/preview` with the body `POST /bulletins` takes: how many leads it would go
  to and the email as the first of them would receive it; nothing is stored (national-admin)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from csm_kernel.http import error_responses

from ...application.bulletin_preview import preview_bulletin
from ...application.bulletins import BulletinFilter
from .bulletins import Admin, BulletinIn, FilterOut
from .deps import BulletinsDep

router = APIRouter(tags=["bulletins"])


class BulletinPreview(BaseModel):
    #: Distinct addresses it would be sent to (now: a scheduled one's are worked out then).
    recipients: int
    #: When it is to be sent, if for later.
    send_at: str | None = None
    filter: FilterOut
    #: The first of them, whose email this is.
    to: str
    subject: str
    text: str
    html: str


@router.post(
    "/bulletins/preview",
    response_model=BulletinPreview,
    responses=error_responses(401, 403, 413, 422),
)
async def preview(body: BulletinIn, _: Admin, bulletins: BulletinsDep) -> dict[str, Any]:
    """What `POST /bulletins` would send, without sending it: 422 for what it would refuse."""
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
    return await preview_bulletin(bulletins, body.subject, body.body, audience, body.send_at)
