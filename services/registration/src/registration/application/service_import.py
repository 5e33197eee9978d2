"""Bulk import of services (national team; a mapping lead for their own organisation's): check
every line, then register them all in one transaction, or nothing.

Every line is checked before anything is written: the record's own rules, that it is within
the caller's reach, that its organisations and service group exist, that no other line of the
file is the same service, and that it does not clash with a service already registered. Any
problem refuses the whole file (422, every problem with its line, field and reason). A dry run
stops there and says what would happen. A file that would add a service to a return already
signed off is refused (409, as every directory change is: `application/directory.py`).

A line that repeats a registered record exactly (same identity, same details) is left as it
is, so importing a file again (a retried confirmation, say) registers nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from csm_contracts.events.directory import ServiceStatus
from csm_contracts.registry import EventPayload
from csm_kernel.errors import ConcurrencyConflict, Conflict, InvalidInput, NotFound
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain.returns import ADDING
from ..domain.service_import import (
    BadImport,
    RowProblem,
    ServiceKey,
    ServiceLine,
    imported_service_id,
    service_key,
)
from ..domain.service_record import ServiceRecord
from .directory import refuse_when_signed_off, unknown_group, unknown_organisations
from .ports import Directory, NewRecord, Scope, ServiceSummary

log = get_logger(__name__)

#: Most services in one import.
MAX_IMPORT_LINES = 100_000


@dataclass(frozen=True)
class ServiceImportResult:
    """What an import did (or, for a dry run, would do)."""

    #: Services in the file.
    lines: int
    #: The record of each service, in line order (new ones and ones already registered).
    service_ids: list[uuid.UUID]
    #: How many are (or would be) registered now.
    registered: int
    #: How many were registered already, exactly as the file says.
    unchanged: int
    dry_run: bool


@dataclass
class _Checked:
    line: ServiceLine
    service_id: uuid.UUID
    key: ServiceKey
    record: ServiceRecord | None = None  # the new record, if the line registers one
    events: list[EventPayload] | None = None


def _problems(line: int, found: Iterable[Mapping[str, str]]) -> list[RowProblem]:
    return [RowProblem(line, p["field"], p["reason"]) for p in found]


def _describe(key: ServiceKey) -> str:
    cycle, provider, group, _ = key
    return f"{provider}{f' (group {group})' if group else ''} in {cycle}"


def _against_registered(
    item: _Checked,
    by_id: Mapping[uuid.UUID, ServiceSummary],
    by_key: Mapping[ServiceKey, ServiceSummary],
) -> tuple[uuid.UUID | None, RowProblem | None]:
    """The registered record this line repeats exactly (nothing to do), or the clash."""
    line, details = item.line, item.line.details
    field = "service_id" if line.service_id is not None else "name"
    same = by_id.get(item.service_id)
    if same is not None:
        if same.status is ServiceStatus.WITHDRAWN:
            reason = (
                f"service {same.service_id} was registered from this line before and has been "
                "withdrawn: give the line a new service_id (or another name) to register it again"
            )
            return None, RowProblem(line.line, field, reason)
        if same.cycle == line.cycle and same.details == details:
            return same.service_id, None
        return None, RowProblem(
            line.line,
            field,
            f"service {same.service_id} is registered already with other details: change it "
            "in the directory rather than importing it again",
        )
    other = by_key.get(item.key)
    if other is None:
        return None, None
    if other.details == details:
        return other.service_id, None
    return None, RowProblem(
        line.line,
        "name",
        f"{_describe(item.key)} already has a service called {other.details.name!r} "
        f"(service {other.service_id}): change it in the directory, or give this one "
        "another name",
    )


async def import_services(
    directory: Directory,
    scope: Scope,
    lines: Sequence[ServiceLine],
    parse_problems: Sequence[RowProblem],
    context: AppendContext,
    *,
    dry_run: bool = False,
    line_count: int | None = None,
) -> ServiceImportResult:
    """Check every line and register the new services, all or nothing.

    `parse_problems` are what the caller found reading the file (lines it could not even turn
    into a service). Raises `BadImport` (422) with every problem if there is any, and writes
    nothing; `Conflict` (409) if another import registered one of the services meanwhile, or
    `ReturnSignedOff` (409) if a new service's provider has signed off its return for the
    service's cycle."""
    scope.ensure_can_write()
    problems: list[RowProblem] = list(parse_problems)
    checked: list[_Checked] = []
    lines_of_key: dict[ServiceKey, int] = {}
    lines_of_id: dict[uuid.UUID, int] = {}
    for line in lines:
        details = line.details
        key = service_key(line.cycle, details)
        item = _Checked(line, line.service_id or imported_service_id(line.cycle, details), key)
        own: list[RowProblem] = []
        new = ServiceRecord(service_id=item.service_id)
        try:
            item.events = new.register(line.cycle, details)
            item.record = new.after(item.events)
        except InvalidInput as exc:
            own.extend(_problems(line.line, exc.details))
        if not scope.covers(details):
            own.append(
                RowProblem(
                    line.line,
                    "provider_id",
                    f"you may import only services your organisation ({scope.organisation_id}) "
                    "provides or commissions",
                )
            )
        if key in lines_of_key:
            own.append(
                RowProblem(
                    line.line,
                    "name",
                    f"the same service ({details.name!r} of {_describe(key)}) is already on "
                    f"line {lines_of_key[key]}",
                )
            )
        else:
            lines_of_key[key] = line.line
        if line.service_id is not None:
            if line.service_id in lines_of_id:
                own.append(
                    RowProblem(
                        line.line,
                        "service_id",
                        f"service {line.service_id} is also on line {lines_of_id[line.service_id]}",
                    )
                )
            lines_of_id.setdefault(line.service_id, line.line)
        problems.extend(own)
        if not own:
            checked.append(item)

    known = await directory.organisation_areas(
        {c for line in lines for c in line.details.organisation_ids}
    )
    groups = await directory.group_organisations(
        {line.details.group_id for line in lines if line.details.group_id}
    )
    for line in lines:
        problems.extend(
            _problems(
                line.line,
                unknown_organisations(line.details, known) + unknown_group(line.details, groups),
            )
        )

    registered = await directory.existing_services(
        {i.line.details.provider_id for i in checked},
        {i.line.cycle for i in checked},
        [i.service_id for i in checked],
    )
    by_id = {s.service_id: s for s in registered}
    by_key = {
        service_key(s.cycle, s.details): s
        for s in registered
        if s.status is not ServiceStatus.WITHDRAWN
    }
    ids: list[uuid.UUID] = []
    new_records: list[NewRecord] = []
    # The returns the new records join: (cycle, provider).
    returns: set[tuple[str, str]] = set()
    for item in checked:
        repeated, clash = _against_registered(item, by_id, by_key)
        if clash is not None:
            problems.append(clash)
        elif repeated is not None:
            ids.append(repeated)
        else:
            assert item.record is not None and item.events is not None
            ids.append(item.service_id)
            areas = known.get(item.line.details.provider_id, ())
            new_records.append(NewRecord(item.record, item.events, areas))
            returns.add((item.line.cycle, item.line.details.provider_id))
    if problems:
        raise BadImport(problems)

    # The providers' returns the new records join: none may be signed off. A first look (also
    # a dry run's answer), then again under the lock the appends take, in their transaction:
    # the records are prepared before it takes the lock, so the check comes after the appends
    # and a refusal undoes them.
    await refuse_when_signed_off(directory, returns, ADDING)
    if new_records and not dry_run:
        try:
            async with directory.transaction() as tx:
                await tx.save_new(new_records, context, skip_existing=False)
                await refuse_when_signed_off(tx, returns, ADDING)
        except ConcurrencyConflict as exc:
            raise Conflict(
                f"{exc.stream_id} was registered by someone else while the file was being "
                "imported, so nothing was imported: import the file again (services already "
                "registered as the file says are left as they are)"
            ) from None
    result = ServiceImportResult(
        lines=line_count if line_count is not None else len(lines),
        service_ids=ids,
        registered=len(new_records),
        unchanged=len(ids) - len(new_records),
        dry_run=dry_run,
    )
    log.info(
        "services imported" if not dry_run else "service import checked",
        lines=result.lines,
        registered=result.registered,
        unchanged=result.unchanged,
    )
    return result


async def keep_checked_file(
    directory: Directory, actor: str, media_type: str, body: bytes
) -> uuid.UUID:
    """Keep a file that passed its dry run, so its confirmation names it rather than sending
    it again; the id to confirm it by."""
    return await directory.keep_upload(actor, media_type, body)


async def checked_file(directory: Directory, actor: str, upload_id: uuid.UUID) -> tuple[str, bytes]:
    """The media type and body of a file `actor` checked; 404 for any other."""
    kept = await directory.kept_upload(upload_id, actor)
    if kept is None:
        raise NotFound(
            f"no checked file {upload_id} of yours (files are kept a day): check the file again"
        )
    return kept
