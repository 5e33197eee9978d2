"""HTTP endpoints: the emails' wording, previewed with sample values (the national team).

- `GET /templates`                              every kind of email there is a template for
- `GET /templates/{kind}/preview`               subject, text and HTML rendered with samples
- `GET /templates/{kind}/preview?part=text`     just the plain-text part (`html`, `subject`)

A preview never shows a link that works (`application.previews`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.http import error_responses

from ...application.previews import check_kind, preview, templates

router = APIRouter(tags=["templates"])

Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]


class TemplateOut(BaseModel):
    kind: str
    parts: list[str]
    #: The values its preview is written with: what its emails' intents carry.
    sample: dict[str, Any]


class Preview(BaseModel):
    kind: str
    subject: str
    text: str
    html: str


@router.get(
    "/templates", response_model=list[TemplateOut], responses=error_responses(401, 403, 422)
)
async def list_templates(_: Admin) -> list[dict[str, Any]]:
    return templates()


@router.get(
    "/templates/{kind}/preview",
    response_model=Preview,
    responses={
        200: {
            "description": "The whole email; with `part`, just that part: `html` as "
            "text/html, `text` and `subject` as text/plain.",
            "content": {"text/html": {}, "text/plain": {}},
        },
        **error_responses(401, 403, 404, 422),
    },
)
async def preview_template(
    kind: str,
    _: Admin,
    part: Annotated[Literal["subject", "text", "html"] | None, Query()] = None,
) -> dict[str, str] | Response:
    written = preview(check_kind(kind))
    if part == "html":
        return HTMLResponse(written["html"])
    if part is not None:
        return PlainTextResponse(written[part])
    return written
