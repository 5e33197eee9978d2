"""Organisations in memory, over any event store: the fake for use-case tests.

It keeps the port's promises: `save` checks every stream's version before appending any (all
or nothing, as long as every writer goes through this repository), and the list is updated
with the appends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from csm_contracts.envelope import EventEnvelope
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.store import AppendContext, EventStore, InMemoryEventStore, NewEvent

from ..application.ports import OrganisationFilter, OrganisationPage
from ..domain.organisation import Organisation, OrganisationChange, stream_id_for
from .event_streams import organisation_events


class InMemoryOrganisations:
    """The organisation repository over an (in-memory) event store and a dict."""

    def __init__(self, store: EventStore | None = None) -> None:
        self.store: EventStore = store if store is not None else InMemoryEventStore()
        self.listed: dict[str, Organisation] = {}
        self._lock = asyncio.Lock()
        self.events = organisation_events(self.store)

    async def load(self, code: str) -> Organisation:
        # Folds what `stream` read (a test's store may wrap `read_stream`, without `conn`).
        return self.events.fold(None, await self.stream(code)) or Organisation(code=code)

    async def load_many(self, codes: Collection[str]) -> dict[str, Organisation]:
        return {c: self.listed[c] for c in codes if c in self.listed}

    async def save(self, changes: Sequence[OrganisationChange], context: AppendContext) -> None:
        changes = [c for c in changes if c.events]
        async with self._lock:
            for change in changes:
                stream = stream_id_for(change.code)
                actual = await self.store.stream_version(stream)
                if actual != change.expected_version:
                    raise ConcurrencyConflict(stream, change.expected_version, actual)
            for change in changes:
                await self.store.append(
                    stream_id_for(change.code),
                    change.expected_version,
                    [NewEvent.from_payload(e) for e in change.events],
                    context,
                )
                self.listed[change.code] = change.after()

    async def search(self, query: OrganisationFilter) -> OrganisationPage:
        matching = [
            org
            for _, org in sorted(self.listed.items())
            if (query.region is None or org.region is query.region)
            and (query.kind is None or org.kind is query.kind)
            and (query.area is None or query.area in org.partnership_areas)
        ]
        if query.before is not None and query.after is None:
            page = [o for o in matching if o.code < query.before][-query.limit :]
        else:
            page = [o for o in matching if query.after is None or o.code > query.after]
            page = page[: query.limit]
        first, last = (page[0].code, page[-1].code) if page else ("", "")
        return OrganisationPage(
            items=page,
            total=len(matching),
            next_after=last if page and any(o.code > last for o in matching) else None,
            previous_before=first if page and any(o.code < first for o in matching) else None,
        )

    async def stream(self, code: str) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(code))
