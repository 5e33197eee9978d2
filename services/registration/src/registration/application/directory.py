"""Use cases of the directory of services: load the record, decide, append, keep the read model.

The event store is the truth. Each write appends the record's events and updates the inline
read model (`directory_services`) in one transaction, through a `Directory` port: PostgreSQL in
production (`adapters/directory_pg.py`), in memory for unit tests (`adapters/directory_memory.py`).

Who may do what is decided here from a `Scope` (built from the caller's token):

- national admin: everything; auditor: reads everything, writes nothing;
- mapping lead: records whose provider or a commissioner is their organisation; others are 404;
- group owner: as a lead, and only records of their own group (`group_id`);
- regulator: nothing (the HTTP layer answers 403 before we get here).

Once an organisation's return for a cycle is signed off, its services of that cycle are settled
until the national team reopens the return: registering, revising, withdrawing and confirming
them is refused (409, `domain/returns.py`), the national team included. Whether it is signed off
is registration's copy of the questionnaire service's decision (`record_sign_off`,
`record_reopening`, fed by the consumer), so it lags that decision by the consumer's lag: a
change made in that window is accepted (eventual consistency). The portal checks the
questionnaire service itself before it offers a change, and stays the first line.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.directory import FieldChange, ServiceStatus
from csm_contracts.registry import EventPayload
from csm_kernel.errors import ConcurrencyConflict, Forbidden, InvalidInput, NotFound
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain.returns import ADDING, CHANGING, ReturnSignedOff
from ..domain.service_record import (
    ServiceDetails,
    ServiceRecord,
    cycle_problem,
    previous_cycle,
    stream_id_for,
)
from .ports import (
    Directory,
    DirectoryQuery,
    NewRecord,
    ReturnKey,
    Scope,
    SearchPage,
    ServiceSummary,
)

__all__ = [
    "CarryForwardResult",
    "Directory",
    "DirectoryQuery",
    "NewRecord",
    "Scope",
    "SearchPage",
    "ServiceSummary",
    "carry_forward",
    "changes_since_last_year",
    "confirm_service",
    "get_service",
    "record_reopening",
    "record_sign_off",
    "refuse_when_signed_off",
    "register_service",
    "revise_service",
    "search",
    "service_history",
    "unknown_group",
    "unknown_organisations",
    "withdraw_service",
]

log = get_logger(__name__)

#: How many records carry-forward loads and writes at a time.
CARRY_CHUNK = 2000


# --- reading -------------------------------------------------------------------------------


async def _visible(directory: Directory, scope: Scope, service_id: uuid.UUID) -> ServiceRecord:
    record = await directory.load(service_id)
    if not record.exists or not scope.covers(record.current()):
        raise NotFound(f"no service {service_id}")
    return record


async def get_service(directory: Directory, scope: Scope, service_id: uuid.UUID) -> ServiceRecord:
    return await _visible(directory, scope, service_id)


async def service_history(
    directory: Directory, scope: Scope, service_id: uuid.UUID
) -> list[EventEnvelope]:
    await _visible(directory, scope, service_id)
    return await directory.history(service_id)


async def changes_since_last_year(
    directory: Directory, scope: Scope, service_id: uuid.UUID
) -> tuple[ServiceRecord, list[FieldChange]]:
    record = await _visible(directory, scope, service_id)
    return record, record.changes_since_last_year()


async def search(directory: Directory, scope: Scope, query: DirectoryQuery) -> SearchPage:
    if scope.sees_nothing:
        return SearchPage(total=0)
    if query.cycle is not None and (problem := cycle_problem(query.cycle)):
        raise InvalidInput.field("cycle", problem)
    return await directory.search(query, scope)


# --- writing -------------------------------------------------------------------------------


def unknown_organisations(
    details: ServiceDetails, known: Mapping[str, tuple[str, ...]]
) -> list[dict[str, str]]:
    problems = []
    if details.provider_id not in known:
        problems.append(
            {
                "field": "provider_id",
                "reason": f"no organisation with code {details.provider_id} is registered",
            }
        )
    for i, code in enumerate(details.commissioner_ids):
        if code not in known:
            problems.append(
                {
                    "field": f"commissioner_ids.{i}",
                    "reason": f"no organisation with code {code} is registered",
                }
            )
    return problems


def unknown_group(details: ServiceDetails, groups: Mapping[str, str]) -> list[dict[str, str]]:
    if details.group_id is None:
        return []
    owner = groups.get(details.group_id)
    if owner is None or owner not in details.organisation_ids:
        return [
            {
                "field": "group_id",
                "reason": f"{details.group_id} is not a service group of the provider or a "
                "commissioner",
            }
        ]
    return []


async def _provider_areas(directory: Directory, details: ServiceDetails) -> tuple[str, ...]:
    """The provider's partnership areas; 422 naming each organisation that is not registered
    and a service group that is not one of theirs."""
    known = await directory.organisation_areas(details.organisation_ids)
    groups = await directory.group_organisations([details.group_id] if details.group_id else [])
    problems = unknown_organisations(details, known) + unknown_group(details, groups)
    if problems:
        summary = "; ".join(f"{p['field']}: {p['reason']}" for p in problems)
        raise InvalidInput(f"unknown organisation: {summary}", details=problems)
    return known[details.provider_id]


def _ensure_covers(scope: Scope, details: ServiceDetails) -> None:
    if scope.covers(details):
        return
    if scope.group_id is not None:
        raise Forbidden(
            f"you may only act on services of your own group ({scope.group_id}) and "
            f"organisation ({scope.organisation_id})"
        )
    raise Forbidden(
        f"you may only act on services your organisation ({scope.organisation_id}) provides "
        "or commissions"
    )


async def refuse_when_signed_off(
    directory: Directory, returns: Collection[ReturnKey], what: str
) -> None:
    """409 (`ReturnSignedOff`, saying `what` cannot be done) if one of `returns` is signed off.

    Called on `Directory.transaction()`'s directory, in the write's transaction, the answer
    holds until the write commits: a sign-off the consumer records meanwhile waits for the
    commit, and one recorded before is seen. It can still lag the questionnaire service's own
    decision by the consumer's lag (see the module docstring)."""
    signed = await directory.signed_off(returns)
    if signed:
        raise ReturnSignedOff(signed, what)


async def _save(
    directory: Directory,
    record: ServiceRecord,
    expected_version: int,
    events: Sequence[EventPayload],
    areas: Sequence[str],
    context: AppendContext,
    what: str,
) -> None:
    """Write a record's events unless its provider's return for its cycle is signed off: the
    check and the write in one transaction, under the lock the write takes."""
    assert record.cycle is not None
    async with directory.transaction() as tx:
        await refuse_when_signed_off(tx, [(record.cycle, record.current().provider_id)], what)
        await tx.save(record, expected_version, events, areas, context)


async def register_service(
    directory: Directory,
    scope: Scope,
    cycle: str,
    details: ServiceDetails,
    context: AppendContext,
    service_id: uuid.UUID | None = None,
) -> ServiceRecord:
    scope.ensure_can_write()
    new = ServiceRecord(service_id=service_id or uuid.uuid4())
    events = new.register(cycle, details)
    _ensure_covers(scope, details)
    areas = await _provider_areas(directory, details)
    record = new.after(events)
    await _save(directory, record, 0, events, areas, context, ADDING)
    log.info(
        "service registered",
        service_id=str(record.service_id),
        organisation_id=details.provider_id,
        cycle=cycle,
    )
    return record


async def _open_for_change(
    directory: Directory, scope: Scope, service_id: uuid.UUID, expected_version: int
) -> ServiceRecord:
    record = await _visible(directory, scope, service_id)
    scope.ensure_can_write()
    if record.version != expected_version:
        # The caller decided on a version that is no longer current: nothing is silently lost.
        raise ConcurrencyConflict(stream_id_for(service_id), expected_version, record.version)
    return record


async def _commit(
    directory: Directory,
    record: ServiceRecord,
    events: list[EventPayload],
    context: AppendContext,
    areas: Sequence[str] | None = None,
) -> ServiceRecord:
    if not events:
        return record
    after = record.after(events)
    if areas is None:
        provider = after.current().provider_id
        areas = (await directory.organisation_areas([provider])).get(provider, ())
    await _save(directory, after, record.version, events, areas, context, CHANGING)
    return after


async def revise_service(
    directory: Directory,
    scope: Scope,
    service_id: uuid.UUID,
    expected_version: int,
    changes: Mapping[str, Any],
    context: AppendContext,
) -> ServiceRecord:
    """Change some fields (dotted paths, e.g. `client_group.age_max`)."""
    record = await _open_for_change(directory, scope, service_id, expected_version)
    events = record.revise(changes)
    if not events:
        return record
    revised = record.after(events).current()
    # The revised record must stay within the caller's reach (a lead cannot give it away).
    _ensure_covers(scope, revised)
    areas = await _provider_areas(directory, revised)
    return await _commit(directory, record, events, context, areas)


async def withdraw_service(
    directory: Directory,
    scope: Scope,
    service_id: uuid.UUID,
    expected_version: int,
    reason: str,
    context: AppendContext,
) -> ServiceRecord:
    record = await _open_for_change(directory, scope, service_id, expected_version)
    return await _commit(directory, record, record.withdraw(reason), context)


async def confirm_service(
    directory: Directory,
    scope: Scope,
    service_id: uuid.UUID,
    expected_version: int,
    context: AppendContext,
) -> ServiceRecord:
    record = await _open_for_change(directory, scope, service_id, expected_version)
    return await _commit(directory, record, record.confirm(), context)


# --- signed-off returns (the consumer's copy of the questionnaire service's decisions) -------


async def record_sign_off(
    directory: Directory,
    cycle: str,
    organisation_id: str,
    signed_off_at: datetime,
    return_version: int,
) -> None:
    """The organisation signed its return off: its services of `cycle` are settled. Applying
    it again, or after a later event of the return (`return_version`), changes nothing."""
    await directory.record_signed_off(cycle, organisation_id, signed_off_at, return_version)
    log.info("return sign-off recorded", organisation_id=organisation_id, cycle=cycle)


async def record_reopening(
    directory: Directory, cycle: str, organisation_id: str, return_version: int
) -> None:
    """The national team reopened the return: its services may change again until the next
    sign-off. Idempotent as `record_sign_off`."""
    await directory.record_reopened(cycle, organisation_id, return_version)
    log.info("return reopening recorded", organisation_id=organisation_id, cycle=cycle)


# --- carry-forward -------------------------------------------------------------------------


@dataclass(frozen=True)
class CarryForwardResult:
    cycle: str
    previous_cycle: str
    carried: int
    already_carried: int


async def carry_forward(
    directory: Directory,
    cycle: str,
    from_cycle: str | None,
    context: AppendContext,
) -> CarryForwardResult:
    """Carry every active record of `from_cycle` (default: the cycle before) into `cycle` as a
    new record to be checked. Idempotent: a record already carried is not carried again (its
    new id is derived from the old one and the cycle, and the store refuses a second stream)."""
    if problem := cycle_problem(cycle):
        raise InvalidInput.field("cycle", problem)
    source = from_cycle or previous_cycle(cycle)
    if problem := cycle_problem(source):
        raise InvalidInput.field("from", problem)
    if source >= cycle:
        raise InvalidInput.field("from", f"{source} is not a cycle before {cycle}")
    active = await directory.active_ids(source)
    done = await directory.carried_from(cycle)
    todo = [i for i in active if i not in done]
    carried = 0
    areas: dict[str, tuple[str, ...]] = {}  # provider -> its areas now (read once each)
    for start in range(0, len(todo), CARRY_CHUNK):
        records = await directory.load_many(todo[start : start + CARRY_CHUNK])
        providers = {r.current().provider_id for r in records if r.exists} - areas.keys()
        areas.update(await directory.organisation_areas(providers))
        items = []
        for previous in records:
            if not previous.exists or previous.status is not ServiceStatus.ACTIVE:
                continue  # changed since the read model said so: nothing to carry
            event = previous.carry_forward(cycle)
            record = ServiceRecord(service_id=event.service_id).after([event])
            items.append(NewRecord(record, [event], areas.get(previous.current().provider_id, ())))
        carried += await directory.save_new(items, context, skip_existing=True)
    already = len(active) - carried
    log.info(
        "services carried forward",
        cycle=cycle,
        previous_cycle=source,
        carried=carried,
        already_carried=already,
    )
    return CarryForwardResult(cycle, source, carried, already)
