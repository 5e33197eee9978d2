"""The directory in memory, over `InMemoryEventStore`: the fake for unit tests of use cases.

Same contract as `PostgresDirectory`, with a plain dict as read model and a simple word match
standing in for PostgreSQL full-text search.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.directory import ServiceStatus
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.store import AppendContext, EventStore, NewEvent

from ..application.ports import (
    DirectoryQuery,
    NewRecord,
    ReturnKey,
    Scope,
    SearchPage,
    ServiceSummary,
)
from ..domain.organisation import stream_id_for as organisation_stream
from ..domain.returns import SignedOffReturn
from ..domain.service_record import ServiceRecord, stream_id_for
from .event_streams import organisation_events, service_events


@dataclass
class _Row:
    record: ServiceRecord
    areas: tuple[str, ...]


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower())}


class InMemoryDirectory:
    """The `Directory` port in memory."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.rows: dict[uuid.UUID, _Row] = {}
        #: service group id -> organisation code (what the accounts feature defines)
        self.groups: dict[str, str] = {}
        #: kept import files: upload id -> (actor, media type, body)
        self.uploads: dict[uuid.UUID, tuple[str, str, bytes]] = {}
        #: (cycle, organisation) -> (return stream version applied, signed off at or None)
        self.returns: dict[ReturnKey, tuple[int, datetime | None]] = {}
        self.services = service_events(store)
        self.organisations = organisation_events(store)

    def joined(self, conn: Connection) -> InMemoryDirectory:
        return self  # no transactions to join in memory

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryDirectory]:
        # Nothing runs concurrently in a unit test, so nothing comes between a check and a
        # write, and writes are never undone: a use case checks before it writes (the import's
        # second check, after its writes, can find nothing its first did not).
        yield self

    async def signed_off(self, returns: Collection[ReturnKey]) -> list[SignedOffReturn]:
        out = []
        for key in sorted(set(returns)):
            _, at = self.returns.get(key, (0, None))
            if at is not None:
                out.append(SignedOffReturn(key[0], key[1], at))
        return out

    async def record_signed_off(
        self, cycle: str, organisation_id: str, signed_off_at: datetime, return_version: int
    ) -> None:
        self._record((cycle, organisation_id), return_version, signed_off_at)

    async def record_reopened(self, cycle: str, organisation_id: str, return_version: int) -> None:
        self._record((cycle, organisation_id), return_version, None)

    def _record(self, key: ReturnKey, version: int, at: datetime | None) -> None:
        if key not in self.returns or version > self.returns[key][0]:
            self.returns[key] = (version, at)

    async def load(self, service_id: uuid.UUID) -> ServiceRecord:
        found = await self.services.load(stream_id_for(service_id))
        return found or ServiceRecord(service_id=service_id)

    async def load_many(self, service_ids: Sequence[uuid.UUID]) -> list[ServiceRecord]:
        return [await self.load(i) for i in service_ids]

    async def history(self, service_id: uuid.UUID) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(service_id))

    async def organisation_areas(self, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        out = {}
        for code in set(codes):
            org = await self.organisations.load(organisation_stream(code))
            if org is not None and org.registered:
                out[code] = tuple(org.partnership_areas)
        return out

    async def group_organisations(self, group_ids: Iterable[str]) -> dict[str, str]:
        return {g: self.groups[g] for g in group_ids if g in self.groups}

    async def save(
        self,
        record: ServiceRecord,
        expected_version: int,
        events: Sequence[EventPayload],
        areas: Sequence[str],
        context: AppendContext,
    ) -> None:
        await self.store.append(
            record.stream_id, expected_version, [NewEvent.from_payload(e) for e in events], context
        )
        self.rows[record.service_id] = _Row(record, tuple(areas))

    async def save_new(
        self, items: Sequence[NewRecord], context: AppendContext, *, skip_existing: bool
    ) -> int:
        fresh = []
        for item in items:
            if await self.store.stream_version(item.record.stream_id) == 0:
                fresh.append(item)
            elif not skip_existing:
                raise ConcurrencyConflict(item.record.stream_id, 0)
        for item in fresh:
            await self.save(item.record, 0, item.events, item.areas, context)
        return len(fresh)

    async def search(self, query: DirectoryQuery, scope: Scope) -> SearchPage:
        hits = []
        wanted = _words(query.text) if query.text else set()
        for row in self.rows.values():
            r, d = row.record, row.record.current()
            if not scope.covers(d) or r.status not in query.statuses:
                continue
            if query.cycle is not None and r.cycle != query.cycle:
                continue
            if query.area is not None and query.area not in row.areas:
                continue
            if query.locality is not None and d.group_id != query.locality:
                continue
            if query.service_type is not None and d.service_type is not query.service_type:
                continue
            if query.tier is not None and d.camhs_tier != query.tier:
                continue
            if query.age is not None and not d.age_min <= query.age <= d.age_max:
                continue
            if wanted and not wanted <= _words(f"{d.name} {d.description} {' '.join(d.needs)}"):
                continue
            hits.append(row)
        hits.sort(key=lambda row: (row.record.current().name, str(row.record.service_id)))
        page = hits[query.offset : query.offset + query.limit]
        return SearchPage(total=len(hits), items=[_summary(row) for row in page])

    async def active_ids(self, cycle: str) -> list[uuid.UUID]:
        return sorted(
            (
                i
                for i, row in self.rows.items()
                if row.record.cycle == cycle and row.record.status is ServiceStatus.ACTIVE
            ),
            key=str,
        )

    async def existing_services(
        self, providers: Iterable[str], cycles: Iterable[str], service_ids: Iterable[uuid.UUID]
    ) -> list[ServiceSummary]:
        wanted, in_cycles, ids = set(providers), set(cycles), set(service_ids)
        return [
            _summary(row)
            for i, row in self.rows.items()
            if i in ids
            or (row.record.current().provider_id in wanted and row.record.cycle in in_cycles)
        ]

    async def keep_upload(self, actor: str, media_type: str, body: bytes) -> uuid.UUID:
        upload_id = uuid.uuid4()
        self.uploads[upload_id] = (actor, media_type, body)
        return upload_id

    async def kept_upload(self, upload_id: uuid.UUID, actor: str) -> tuple[str, bytes] | None:
        kept = self.uploads.get(upload_id)
        return (kept[1], kept[2]) if kept is not None and kept[0] == actor else None

    async def carried_from(self, cycle: str) -> set[uuid.UUID]:
        return {
            row.record.previous_service_id
            for row in self.rows.values()
            if row.record.cycle == cycle and row.record.previous_service_id is not None
        }


def _summary(row: _Row) -> ServiceSummary:
    r = row.record
    assert r.cycle is not None and r.status is not None
    return ServiceSummary(
        service_id=r.service_id,
        version=r.version,
        cycle=r.cycle,
        status=r.status,
        details=r.current(),
        areas=row.areas,
        previous_service_id=r.previous_service_id,
    )
