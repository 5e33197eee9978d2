"""HTTP endpoints: the directory of services.

- `POST   /directory/services`                          register (lead: own organisation)
- `GET    /directory/services`                          search, paginated, with a total
- `POST   /directory/services/import?dry_run=`          bulk import, JSON lines or CSV (national
                                                        admin; a lead their organisation's)
- `GET    /directory/services/{id}`                     one record, with its version
- `PATCH  /directory/services/{id}`                     revise (send `expected_version`)
- `POST   /directory/services/{id}/withdraw`            withdraw (send `expected_version`)
- `POST   /directory/services/{id}/confirm`             confirm a carried-forward record
- `GET    /directory/services/{id}/history`             every event of the record
- `GET    /directory/services/{id}/changes-since-last-year`
- `POST   /directory/cycles/{cycle}/carry-forward?from=`  carry last cycle's services (admin)

Regulators have no access (403); auditors read everything and change nothing; another
organisation's record is 404. Once the provider's return for the record's cycle is signed off,
registering, importing, revising, withdrawing and confirming its services is 409 until the
national team reopens the return.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
)

from csm_contracts.auth import Role
from csm_contracts.events.directory import (
    ClientGroup,
    FieldChange,
    ServiceContact,
    ServiceStatus,
    ServiceType,
)
from csm_kernel.auth import Principal, require
from csm_kernel.bounds import IDENTIFIER_LENGTH, REASON_LENGTH, Int32, StreamVersion
from csm_kernel.edge import body_limit
from csm_kernel.errors import InvalidInput
from csm_kernel.http import append_context, error_responses

from ...application import directory as use_cases
from ...application import service_import as importing
from ...application.directory import DirectoryQuery, Scope, ServiceSummary
from ...application.service_import import MAX_IMPORT_LINES
from ...domain.service_import import COLUMNS as CSV_COLUMNS
from ...domain.service_import import (
    BadImport,
    ParsedServices,
    RowProblem,
    ServiceLine,
    in_csv_columns,
    parse_csv,
)
from ...domain.service_record import LISTED, MAX_NEEDS, ServiceDetails, ServiceRecord
from .dependencies import DirectoryDep
from .uploads import UnsupportedMediaType

router = APIRouter(tags=["directory"])

READERS = (Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)
WRITERS = (Role.NATIONAL_ADMIN, Role.MAPPING_LEAD, Role.GROUP_OWNER)
#: The content types an import takes.
CSV_TYPES = ("text/csv", "application/csv")
JSON_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json", "text/plain")
#: Most bytes one import request may carry: 100,000 lines of about 650 bytes (a service with
#: a long description); streamed to the route after its sign-in check, checked on the way.
MAX_IMPORT_BYTES = 64 * 1024 * 1024


#: 409 on the routes that change services: what it means there.
SETTLED: dict[int | str, dict[str, Any]] = {
    409: {
        **error_responses(409)[409],
        "description": "It conflicts with the current state: something changed since it was "
        "read (reload and try again), or the provider's return for the service's cycle is "
        "signed off, so its services cannot be added, confirmed, revised or withdrawn until "
        "the national team reopens the return (the national team too: reopen it first).",
    }
}

Reader = Annotated[Principal, Depends(require(*READERS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]
Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
Importer = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.MAPPING_LEAD))]


# --- request bodies ------------------------------------------------------------------------


# Bounds as the record checks them (`ServiceDetails.problems`), so OpenAPI shows them and an
# absurd value stops here; the record's own checks give the finer reasons.
Age = Annotated[Int32, Field(description="in years (0-25)")]
Need = Annotated[str, StringConstraints(max_length=100)]
Needs = Annotated[list[Need], Field(max_length=MAX_NEEDS)]
ServiceName = Annotated[str, StringConstraints(max_length=200)]
Description = Annotated[str, StringConstraints(max_length=4000)]
Tier = Annotated[Int32, Field(description="1-4, only for a CAMHS service")]
GroupId = Annotated[str, StringConstraints(max_length=64)]
OrgCode = Annotated[str, StringConstraints(max_length=IDENTIFIER_LENGTH)]
#: Most commissioners one service names.
MAX_COMMISSIONERS = 50
Commissioners = Annotated[list[OrgCode], Field(max_length=MAX_COMMISSIONERS)]
ContactName = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[str, StringConstraints(max_length=254)]
Phone = Annotated[str, StringConstraints(max_length=20)]
Cycle = Annotated[str, StringConstraints(max_length=7)]


class ClientGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_min: Age = Field(description="youngest age served, in years (0-25)")
    age_max: Age = Field(description="oldest age served, in years (0-25, not below age_min)")
    needs: Needs = Field(default_factory=list)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ContactName
    email: Email
    phone: Phone | None = None


class ServiceIn(BaseModel):
    """A service record to register."""

    model_config = ConfigDict(extra="forbid")

    cycle: Cycle = Field(examples=["2009-10"])
    name: ServiceName
    description: Description = ""
    service_type: ServiceType
    client_group: ClientGroupIn
    camhs: bool = False
    camhs_tier: Tier | None = Field(default=None, description="1-4, only for a CAMHS service")
    group_id: GroupId | None = Field(default=None, description="locality / service group")
    provider_id: OrgCode
    commissioner_ids: Commissioners = Field(default_factory=list)
    contact: ContactIn

    def details(self) -> ServiceDetails:
        return ServiceDetails(
            name=self.name,
            description=self.description,
            service_type=self.service_type,
            age_min=self.client_group.age_min,
            age_max=self.client_group.age_max,
            needs=tuple(self.client_group.needs),
            camhs=self.camhs,
            camhs_tier=self.camhs_tier,
            group_id=self.group_id,
            provider_id=self.provider_id,
            commissioner_ids=tuple(self.commissioner_ids),
            contact_name=self.contact.name,
            contact_email=self.contact.email,
            contact_phone=self.contact.phone,
        )


class ImportLineIn(ServiceIn):
    """One line of a bulk import: a service record, optionally with the id it should get."""

    service_id: uuid.UUID | None = None


class ClientGroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_min: Age | None = None
    age_max: Age | None = None
    needs: Needs | None = None


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ContactName | None = None
    email: Email | None = None
    phone: Phone | None = None


class ReviseIn(BaseModel):
    """The fields to change (absent: unchanged; null clears camhs_tier, group_id or
    contact.phone) and the version of the record the change was decided on."""

    model_config = ConfigDict(extra="forbid")

    expected_version: StreamVersion = Field(description="the version you read")
    name: ServiceName | None = None
    description: Description | None = None
    service_type: ServiceType | None = None
    client_group: ClientGroupPatch | None = None
    camhs: bool | None = None
    camhs_tier: Tier | None = None
    group_id: GroupId | None = None
    provider_id: OrgCode | None = None
    commissioner_ids: Commissioners | None = None
    contact: ContactPatch | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set - {"expected_version"}:
            value = getattr(self, name)
            if value is None and name in ("client_group", "contact"):
                raise InvalidInput.field(name, "must not be null: send the fields to change")
            if isinstance(value, BaseModel):
                for inner in value.model_fields_set:
                    out[f"{name}.{inner}"] = getattr(value, inner)
            elif isinstance(value, ServiceType):
                out[name] = value.value
            else:
                out[name] = value
        return out


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: StreamVersion
    reason: str = Field(max_length=REASON_LENGTH)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: StreamVersion


# --- responses -----------------------------------------------------------------------------


class ServiceOut(BaseModel):
    service_id: uuid.UUID
    version: int
    cycle: str
    status: ServiceStatus
    name: str
    description: str
    service_type: ServiceType
    client_group: ClientGroup
    camhs: bool
    camhs_tier: int | None
    group_id: str | None
    provider_id: str
    commissioner_ids: list[str]
    contact: ServiceContact
    previous_service_id: uuid.UUID | None = Field(description="last cycle's record, if carried")
    previous_cycle: str | None
    withdrawn_reason: str | None

    @classmethod
    def of(cls, record: ServiceRecord) -> ServiceOut:
        assert record.cycle is not None and record.status is not None
        # The details as the events carry them (client_group and contact nested).
        carried = record.current().event_fields()
        del carried["organisation_id"]
        return cls(
            service_id=record.service_id,
            version=record.version,
            cycle=record.cycle,
            status=record.status,
            **carried,
            previous_service_id=record.previous_service_id,
            previous_cycle=record.previous_cycle,
            withdrawn_reason=record.withdrawn_reason,
        )


def _summary_fields() -> dict[str, Any]:
    """A search hit's fields: where the record stands, then the details a hit shows
    (`service_record.LISTED`, typed as `ServiceDetails` types them, tuples as JSON arrays),
    then the provider's areas."""
    hints = get_type_hints(ServiceDetails)
    listed = {a: (list[str] if hints[a] == tuple[str, ...] else hints[a], ...) for a in LISTED}
    return {
        "service_id": (uuid.UUID, ...),
        "version": (int, ...),
        "cycle": (str, ...),
        "status": (ServiceStatus, ...),
        **listed,
        "areas": (list[str], Field(description="the provider's LA partnership areas")),
        "previous_service_id": (uuid.UUID | None, ...),
    }


if TYPE_CHECKING:

    class SummaryOut(BaseModel):
        """One search hit (built from `ServiceDetails`: see `_summary_fields`)."""

else:
    SummaryOut = create_model("SummaryOut", **_summary_fields())


def summary_out(s: ServiceSummary) -> SummaryOut:
    details = s.details.flat()
    return SummaryOut.model_construct(
        service_id=s.service_id,
        version=s.version,
        cycle=s.cycle,
        status=s.status,
        **{a: details[a] for a in LISTED},
        areas=list(s.areas),
        previous_service_id=s.previous_service_id,
    )


class SearchOut(BaseModel):
    total: int = Field(description="how many match (a lower bound unless total_is_exact)")
    total_is_exact: bool = Field(
        description="false for a very broad search: counting stopped at `total`; it is then "
        "listed by name rather than by relevance"
    )
    limit: int
    offset: int
    items: list[SummaryOut]


class HistoryEventOut(BaseModel):
    version: int
    type: str
    occurred_at: datetime
    actor: str
    data: dict[str, Any]


class HistoryOut(BaseModel):
    service_id: uuid.UUID
    events: list[HistoryEventOut]


class ChangesOut(BaseModel):
    service_id: uuid.UUID
    cycle: str
    previous_service_id: uuid.UUID | None = Field(description="null: new this cycle")
    previous_cycle: str | None
    changes: list[FieldChange]


class ImportOut(BaseModel):
    lines: int = Field(description="services in the file")
    imported: int = Field(description="registered now (or, for a dry run, that would be)")
    unchanged: int = Field(description="registered already exactly as the file says")
    service_ids: list[uuid.UUID] = Field(description="each line's record, in line order")
    dry_run: bool
    upload_id: uuid.UUID | None = Field(
        default=None,
        description="a dry run's file, kept a day: import it with ?upload_id= and no body",
    )


class CarryForwardOut(BaseModel):
    cycle: str
    previous_cycle: str
    carried: int
    already_carried: int


# --- endpoints -----------------------------------------------------------------------------


@router.post(
    "/directory/services",
    status_code=201,
    response_model=ServiceOut,
    responses={**error_responses(401, 403, 413, 422), **SETTLED},
)
async def register(
    body: ServiceIn, request: Request, directory: DirectoryDep, principal: Writer
) -> ServiceOut:
    record = await use_cases.register_service(
        directory,
        Scope.of(principal),
        body.cycle,
        body.details(),
        append_context(request, principal.actor),
    )
    return ServiceOut.of(record)


@router.get(
    "/directory/services",
    response_model=SearchOut,
    responses=error_responses(401, 403, 422),
)
async def search(
    directory: DirectoryDep,
    principal: Reader,
    area: Annotated[str | None, Query(max_length=20, description="LA partnership area")] = None,
    locality: Annotated[str | None, Query(max_length=64, description="group id")] = None,
    service_type: Annotated[ServiceType | None, Query(alias="type")] = None,
    tier: Annotated[int | None, Query(ge=1, le=4, description="CAMHS tier")] = None,
    age: Annotated[int | None, Query(ge=0, le=25, description="an age served")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in name etc.")] = None,
    cycle: Annotated[str | None, Query(max_length=7)] = None,
    status: Annotated[
        ServiceStatus | None, Query(description="default: active and to-be-checked")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SearchOut:
    query = DirectoryQuery(
        area=area,
        locality=locality,
        service_type=service_type,
        tier=tier,
        age=age,
        text=q.strip() if q and q.strip() else None,
        cycle=cycle,
        limit=limit,
        offset=offset,
        **({"statuses": (status,)} if status is not None else {}),
    )
    page = await use_cases.search(directory, Scope.of(principal), query)
    return SearchOut(
        total=page.total,
        total_is_exact=page.total_is_exact,
        limit=limit,
        offset=offset,
        items=[summary_out(s) for s in page.items],
    )


def _parse_json_lines(body: bytes) -> ParsedServices:
    out = ParsedServices()
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        out.count += 1
        try:
            line = ImportLineIn.model_validate_json(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err.get("loc", ())) or "line"
                out.problems.append(RowProblem(number, loc, err["msg"]))
            continue
        out.lines.append(ServiceLine(number, line.cycle, line.details(), line.service_id))
    return out


def _parse_import(media_type: str, body: bytes) -> ParsedServices:
    if media_type in CSV_TYPES:
        return parse_csv(body, max_rows=MAX_IMPORT_LINES)
    return _parse_json_lines(body)


@router.post(
    "/directory/services/import",
    status_code=201,
    response_model=ImportOut,
    responses={**error_responses(401, 403, 409, 413, 415, 422), **SETTLED},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
            "description": "JSON lines (each line a POST /directory/services body, plus an "
            "optional service_id), or CSV with the columns " + ", ".join(CSV_COLUMNS),
        }
    },
)
@body_limit(MAX_IMPORT_BYTES)
async def import_services(
    request: Request,
    response: Response,
    directory: DirectoryDep,
    principal: Importer,
    dry_run: Annotated[
        bool, Query(description="check every line and say what would happen; write nothing")
    ] = False,
    upload_id: Annotated[
        uuid.UUID | None,
        Query(description="import the file you checked with a dry run (send no body)"),
    ] = None,
) -> ImportOut:
    """Many services at once: JSON lines (`application/x-ndjson`, one service per line, each
    shaped as the body of `POST /directory/services` plus an optional `service_id`) or CSV
    (`text/csv`). All or nothing: any bad line refuses the whole request, and every problem is
    reported with its line number. A line repeating a registered service exactly is left as
    it is, so importing a file again registers nothing twice. A mapping lead may import only
    their own organisation's services."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = await request.body()
    if upload_id is not None:
        if body.strip():
            raise InvalidInput.field(
                "upload_id", "send either a file or the upload_id of one checked already"
            )
        media_type, body = await importing.checked_file(directory, principal.actor, upload_id)
    if media_type and media_type not in CSV_TYPES + JSON_LINES_TYPES:
        raise UnsupportedMediaType(
            "send JSON lines (application/x-ndjson) or CSV (text/csv) as the body"
        )
    # A cheap guard before parsing (blank lines and a CSV's header make room for slack); the
    # services themselves are counted exactly below.
    if body.count(b"\n") > 2 * MAX_IMPORT_LINES:
        raise InvalidInput.field("body", f"at most {MAX_IMPORT_LINES:,} services per request")
    parsed = await asyncio.to_thread(_parse_import, media_type, body)
    if parsed.count > MAX_IMPORT_LINES:
        raise InvalidInput.field("body", f"at most {MAX_IMPORT_LINES:,} services per request")
    if not parsed.count and not parsed.problems:
        raise InvalidInput.field("body", "no services: send one service per line")
    try:
        result = await importing.import_services(
            directory,
            Scope.of(principal),
            parsed.lines,
            parsed.problems,
            append_context(request, principal.actor),
            dry_run=dry_run,
            line_count=parsed.count,
        )
    except BadImport as refused:
        raise (in_csv_columns(refused) if media_type in CSV_TYPES else refused) from None
    kept = None
    if dry_run and upload_id is None:
        kept = await importing.keep_checked_file(
            directory, principal.actor, media_type or JSON_LINES_TYPES[0], body
        )
    if dry_run or not result.registered:
        response.status_code = 200
    return ImportOut(
        lines=result.lines,
        imported=result.registered,
        unchanged=result.unchanged,
        service_ids=result.service_ids,
        dry_run=result.dry_run,
        upload_id=kept,
    )


@router.get(
    "/directory/services/{service_id}",
    response_model=ServiceOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get(service_id: uuid.UUID, directory: DirectoryDep, principal: Reader) -> ServiceOut:
    return ServiceOut.of(await use_cases.get_service(directory, Scope.of(principal), service_id))


@router.patch(
    "/directory/services/{service_id}",
    response_model=ServiceOut,
    responses={**error_responses(401, 403, 404, 409, 413, 422), **SETTLED},
)
async def revise(
    service_id: uuid.UUID,
    body: ReviseIn,
    request: Request,
    directory: DirectoryDep,
    principal: Writer,
) -> ServiceOut:
    record = await use_cases.revise_service(
        directory,
        Scope.of(principal),
        service_id,
        body.expected_version,
        body.changes(),
        append_context(request, principal.actor),
    )
    return ServiceOut.of(record)


@router.post(
    "/directory/services/{service_id}/withdraw",
    response_model=ServiceOut,
    responses={**error_responses(401, 403, 404, 409, 413, 422), **SETTLED},
)
async def withdraw(
    service_id: uuid.UUID,
    body: WithdrawIn,
    request: Request,
    directory: DirectoryDep,
    principal: Writer,
) -> ServiceOut:
    record = await use_cases.withdraw_service(
        directory,
        Scope.of(principal),
        service_id,
        body.expected_version,
        body.reason,
        append_context(request, principal.actor),
    )
    return ServiceOut.of(record)


@router.post(
    "/directory/services/{service_id}/confirm",
    response_model=ServiceOut,
    responses={**error_responses(401, 403, 404, 409, 413, 422), **SETTLED},
)
async def confirm(
    service_id: uuid.UUID,
    body: ConfirmIn,
    request: Request,
    directory: DirectoryDep,
    principal: Writer,
) -> ServiceOut:
    record = await use_cases.confirm_service(
        directory,
        Scope.of(principal),
        service_id,
        body.expected_version,
        append_context(request, principal.actor),
    )
    return ServiceOut.of(record)


@router.get(
    "/directory/services/{service_id}/history",
    response_model=HistoryOut,
    responses=error_responses(401, 403, 404, 422),
)
async def history(service_id: uuid.UUID, directory: DirectoryDep, principal: Reader) -> HistoryOut:
    events = await use_cases.service_history(directory, Scope.of(principal), service_id)
    return HistoryOut(
        service_id=service_id,
        events=[
            HistoryEventOut(
                version=e.stream_version,
                type=e.type,
                occurred_at=e.occurred_at,
                actor=e.actor,
                data=e.data,
            )
            for e in events
        ],
    )


@router.get(
    "/directory/services/{service_id}/changes-since-last-year",
    response_model=ChangesOut,
    responses=error_responses(401, 403, 404, 422),
)
async def changes_since_last_year(
    service_id: uuid.UUID, directory: DirectoryDep, principal: Reader
) -> ChangesOut:
    record, changes = await use_cases.changes_since_last_year(
        directory, Scope.of(principal), service_id
    )
    assert record.cycle is not None
    return ChangesOut(
        service_id=service_id,
        cycle=record.cycle,
        previous_service_id=record.previous_service_id,
        previous_cycle=record.previous_cycle,
        changes=changes,
    )


@router.post(
    "/directory/cycles/{cycle}/carry-forward",
    response_model=CarryForwardOut,
    responses=error_responses(401, 403, 422),
)
async def carry_forward(
    cycle: str,
    request: Request,
    directory: DirectoryDep,
    principal: Admin,
    from_cycle: Annotated[
        str | None, Query(alias="from", max_length=7, description="default: the cycle before")
    ] = None,
) -> CarryForwardOut:
    """Carry every active service of the previous cycle into `cycle`, to be checked.
    Idempotent: what was carried already is not carried again."""
    result = await use_cases.carry_forward(
        directory, cycle, from_cycle, append_context(request, principal.actor)
    )
    return CarryForwardOut(
        cycle=result.cycle,
        previous_cycle=result.previous_cycle,
        carried=result.carried,
        already_carried=result.already_carried,
    )
