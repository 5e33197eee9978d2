"""Use cases: load the aggregate from its stream, decide, append. The store is injected."""

from __future__ import annotations

from csm_contracts.registry import payload_class
from csm_kernel.errors import ConcurrencyConflict, Conflict, NotFound
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext, EventStore, NewEvent

from ..domain.commands import RegisterOrganisation
from ..domain.organisation import Organisation, stream_id_for

log = get_logger(__name__)


async def load_organisation(store: EventStore, code: str) -> Organisation:
    events = await store.read_stream(stream_id_for(code))
    return Organisation.from_history(
        code, [payload_class(e.type, e.version).model_validate(e.data) for e in events]
    )


async def register_organisation(
    store: EventStore, cmd: RegisterOrganisation, context: AppendContext
) -> Organisation:
    org = await load_organisation(store, cmd.code)
    new_events = org.register(cmd)
    try:
        await store.append(
            stream_id_for(cmd.code),
            org.version,
            [NewEvent.from_payload(e) for e in new_events],
            context,
        )
    except ConcurrencyConflict:
        # Someone registered the same code between our read and our append.
        raise Conflict(f"organisation code {cmd.code} is already registered") from None
    for e in new_events:
        org.apply(e)
    log.info("organisation registered", organisation_id=cmd.code, kind=cmd.kind.value)
    return org


async def get_organisation(store: EventStore, code: str) -> Organisation:
    org = await load_organisation(store, code)
    if not org.registered:
        raise NotFound(f"no organisation with code {code}")
    return org
