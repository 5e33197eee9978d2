"""HTTP endpoints for organisations: parse and validate, call the use case, shape the response.

| endpoint | who |
|---|---|
| `POST /organisations` | national-admin |
| `GET /organisations` (list: `region`, `kind`, `area`, `after` or `before`, `limit`) | national-admin, auditor, regulator |
| `GET /organisations/{code}` | any role; a lead or group owner only their own (else 404) |
| `PATCH /organisations/{code}` (name, partnership areas; `If-Match`) | national-admin; a mapping lead renames their own |
| `GET /organisations/{code}/history` | national-admin, auditor; a mapping lead their own |
| `POST /organisations/import` (text/csv) | national-admin |

See docs/registration.md for the rules, the CSV columns and the error responses.
"""  # noqa: E501

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_kernel.auth import Principal, ensure_can_see, require
from csm_kernel.bounds import MAX_INT32, StreamVersion
from csm_kernel.edge import body_limit
from csm_kernel.errors import CSMError, Forbidden, InvalidInput
from csm_kernel.http import append_context, error_responses

from ...application import organisation_import as importing
from ...application import organisations as services
from ...domain.commands import RegisterOrganisation
from ...domain.organisation import Organisation
from ...domain.organisation_rules import MAX_NAME_LENGTH, code_reason
from .dependencies import OrganisationsDep
from .uploads import UnsupportedMediaType

router = APIRouter(tags=["organisations"])

#: Most LA partnership areas one organisation belongs to (England has about 150).
MAX_AREAS = 200


class PreconditionRequired(CSMError):
    """A change sent without the version it was made from (428)."""

    status_code = 428


class PayloadTooLarge(CSMError):
    """A request body over the limit (413)."""

    status_code = 413


def _ods_code(value: str) -> str:
    reason = code_reason(value)
    if reason is not None:
        raise ValueError(reason)
    return value


Code = Annotated[
    str,
    AfterValidator(_ods_code),
    Field(description="ODS-style code: 3-5 capital letters and digits, at least one letter"),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH)
]


class RegisterOrganisationRequest(BaseModel):
    """A new organisation."""

    code: Code
    name: Name
    kind: OrganisationKind
    region: Region
    partnership_areas: list[Code] = Field(
        default_factory=list,
        max_length=MAX_AREAS,
        description="LA partnership area codes it belongs to (an LA always includes its own)",
    )
    linked_organisation_id: Code | None = Field(
        default=None,
        description="the other part of a split PCT (pct-commissioning <-> pct-provider); it "
        "must be registered, and is linked back to this one",
    )
    mapped_by: Code | None = Field(
        default=None,
        description="the lead organisation mapping a third-sector or private provider "
        "(required for those kinds, refused for others)",
    )


class UpdateOrganisationRequest(BaseModel):
    """What to change; send only what changes. The version read goes in `If-Match` (or
    `expected_version`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    partnership_areas: list[Code] | None = Field(
        default=None,
        max_length=MAX_AREAS,
        description="the complete new list of LA partnership area codes",
    )
    expected_version: StreamVersion | None = Field(
        default=None, description="the version you read (or send it in If-Match)"
    )


class OrganisationResponse(BaseModel):
    code: str
    name: str | None
    kind: OrganisationKind | None
    region: Region | None
    partnership_areas: list[str]
    linked_organisation_id: str | None = None
    mapped_by: str | None = None
    version: int

    @classmethod
    def of(cls, org: Organisation) -> OrganisationResponse:
        return cls(
            code=org.code,
            name=org.name,
            kind=org.kind,
            region=org.region,
            partnership_areas=org.partnership_areas,
            linked_organisation_id=org.linked_organisation_id,
            mapped_by=org.mapped_by,
            version=org.version,
        )


class OrganisationListResponse(BaseModel):
    items: list[OrganisationResponse]
    total: int = Field(description="how many organisations match, over all pages")
    next_after: str | None = Field(
        description="pass as `after` for the next page; null on the last page"
    )
    previous_before: str | None = Field(
        default=None,
        description="pass as `before` for the previous page; null on the first page",
    )


class HistoryEntryResponse(BaseModel):
    version: int
    event: str
    occurred_at: datetime
    actor: str
    correlation_id: str
    changes: dict[str, dict[str, Any]] = Field(
        description="for each field the event changed: {'old': ..., 'new': ...}"
    )


class ImportResponse(BaseModel):
    rows: int
    registered: list[str]
    changed: list[str]
    unchanged: list[str]
    events: int
    dry_run: bool


READERS = (Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)
LISTERS = (Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR)
HISTORY_READERS = (Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD)
EDITORS = (Role.NATIONAL_ADMIN, Role.MAPPING_LEAD)


Repository = OrganisationsDep


def _etag(response: Response, org: Organisation) -> None:
    response.headers["ETag"] = f'"{org.version}"'


_IF_MATCH = re.compile(r'\s*(?:W/)?"?(\d{1,10})"?\s*')


def _expected_version(if_match: str | None, in_body: int | None) -> int:
    from_header = None
    if if_match is not None:
        m = _IF_MATCH.fullmatch(if_match)
        if m is None:
            raise InvalidInput.field(
                "If-Match", 'must be the version you read, as its ETag gave it (e.g. "3")'
            )
        from_header = int(m.group(1))
        if not 1 <= from_header <= MAX_INT32:
            raise InvalidInput.field("If-Match", f"a version is from 1 to {MAX_INT32}")
    if from_header is not None and in_body is not None and from_header != in_body:
        raise InvalidInput.field(
            "expected_version", f"is {in_body} but If-Match says {from_header}: send one"
        )
    version = from_header if from_header is not None else in_body
    if version is None:
        raise PreconditionRequired(
            "send the version you read (the ETag of GET /organisations/{code}) in If-Match, or "
            "as expected_version, so a change made meanwhile is not overwritten",
            details=[{"field": "expected_version", "reason": "required"}],
        )
    return version


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationResponse,
    responses=error_responses(401, 403, 409, 413, 422),
)
async def register(
    body: RegisterOrganisationRequest,
    request: Request,
    response: Response,
    repo: Repository,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> OrganisationResponse:
    """Register an organisation (national team). 409 if the code is taken."""
    org = await services.register_organisation(
        repo,
        RegisterOrganisation(
            code=body.code,
            name=body.name,
            kind=body.kind,
            region=body.region,
            partnership_areas=tuple(body.partnership_areas),
            linked_organisation_id=body.linked_organisation_id,
            mapped_by=body.mapped_by,
        ),
        append_context(request, principal.actor),
    )
    _etag(response, org)
    return OrganisationResponse.of(org)


@router.get(
    "/organisations",
    response_model=OrganisationListResponse,
    responses=error_responses(401, 403, 422),
)
async def list_organisations(
    repo: Repository,
    _: Annotated[Principal, Depends(require(*LISTERS))],
    region: Region | None = None,
    kind: OrganisationKind | None = None,
    area: Annotated[
        str | None, Query(max_length=20, description="members of this LA partnership area")
    ] = None,
    after: Annotated[
        str | None, Query(max_length=20, description="the previous page's next_after")
    ] = None,
    before: Annotated[
        str | None,
        Query(max_length=20, description="the next page's previous_before: going back a page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> OrganisationListResponse:
    """The organisations, in code order, a page at a time (national team, auditor, regulator):
    forward with `after`, back with `before` (not both)."""
    if after is not None and before is not None:
        raise InvalidInput.field("before", "give `after` or `before`, not both")
    if area is not None and (reason := code_reason(area)) is not None:
        raise InvalidInput.field("area", reason)
    page = await services.list_organisations(
        repo,
        services.OrganisationFilter(
            region=region, kind=kind, area=area, after=after, before=before, limit=limit
        ),
    )
    return OrganisationListResponse(
        items=[OrganisationResponse.of(o) for o in page.items],
        total=page.total,
        next_after=page.next_after,
        previous_before=page.previous_before,
    )


@router.post(
    "/organisations/import",
    response_model=ImportResponse,
    responses=error_responses(401, 403, 409, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "columns: code, name, kind, region, partnership_areas (codes "
            "separated by ;), linked_organisation_id, mapped_by",
        }
    },
)
@body_limit(importing.MAX_IMPORT_BYTES)
async def import_organisations(
    request: Request,
    repo: Repository,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
    dry_run: Annotated[
        bool, Query(description="check the file and report what it would change; write nothing")
    ] = False,
) -> ImportResponse:
    """Import a CSV file of organisations (national team): all or nothing, idempotent."""
    media_type, _, parameters = request.headers.get("content-type", "").partition(";")
    if media_type.strip().lower() not in ("text/csv", "application/csv", "text/plain"):
        raise UnsupportedMediaType("send the file as the body, with content-type text/csv")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", parameters, re.IGNORECASE)
    if charset is not None and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("send the file as UTF-8 (save the spreadsheet as CSV UTF-8)")
    limit = importing.MAX_IMPORT_BYTES
    too_large = PayloadTooLarge(
        f"the file is larger than {limit // (1024 * 1024)} MiB: split it",
        details=[{"field": "body", "reason": f"at most {limit} bytes"}],
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_large
    result = await importing.import_organisations(
        repo, bytes(data), append_context(request, principal.actor), dry_run=dry_run
    )
    return ImportResponse(
        rows=result.rows,
        registered=result.registered,
        changed=result.changed,
        unchanged=result.unchanged,
        events=result.events,
        dry_run=result.dry_run,
    )


@router.get(
    "/organisations/{code}",
    response_model=OrganisationResponse,
    responses=error_responses(401, 403, 404),
)
async def get(
    code: str,
    response: Response,
    repo: Repository,
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> OrganisationResponse:
    """One organisation; its `ETag` is the version to send back with a change."""
    if not principal.has(Role.REGULATOR):
        ensure_can_see(principal, code)
    org = await services.get_organisation(repo, code)
    _etag(response, org)
    return OrganisationResponse.of(org)


@router.patch(
    "/organisations/{code}",
    response_model=OrganisationResponse,
    responses=error_responses(401, 403, 404, 409, 413, 422, 428),
)
async def update(
    code: str,
    body: UpdateOrganisationRequest,
    request: Request,
    response: Response,
    repo: Repository,
    principal: Annotated[Principal, Depends(require(*EDITORS))],
    if_match: Annotated[str | None, Header()] = None,
) -> OrganisationResponse:
    """Rename an organisation and/or change its partnership areas, from the version read
    (If-Match or expected_version): 409 if it has changed since, 428 if no version is sent.
    A mapping lead may rename their own organisation; areas are the national team's."""
    ensure_can_see(principal, code)
    if body.partnership_areas is not None and not principal.has(Role.NATIONAL_ADMIN):
        raise Forbidden("only the national team changes an organisation's partnership areas")
    if body.name is None and body.partnership_areas is None:
        raise InvalidInput.field("body", "send a new name, new partnership_areas, or both")
    org = await services.update_organisation(
        repo,
        code,
        _expected_version(if_match, body.expected_version),
        append_context(request, principal.actor),
        name=body.name,
        partnership_areas=body.partnership_areas,
    )
    _etag(response, org)
    return OrganisationResponse.of(org)


@router.get(
    "/organisations/{code}/history",
    response_model=list[HistoryEntryResponse],
    responses=error_responses(401, 403, 404),
)
async def history(
    code: str,
    repo: Repository,
    principal: Annotated[Principal, Depends(require(*HISTORY_READERS))],
) -> list[HistoryEntryResponse]:
    """Every change to an organisation, oldest first: who, when, old and new values."""
    ensure_can_see(principal, code)
    entries = await services.organisation_history(repo, code)
    return [
        HistoryEntryResponse(
            version=e.version,
            event=e.event,
            occurred_at=e.occurred_at,
            actor=e.actor,
            correlation_id=e.correlation_id,
            changes=e.changes,
        )
        for e in entries
    ]
