"""An in-memory event store for unit tests. Same contract as the PostgreSQL store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from csm_contracts.envelope import EventEnvelope

from ..clock import Clock, SystemClock
from ..database import Connection
from ..errors import ConcurrencyConflict
from ..hashing import GENESIS_HASH, chain_hash_of_canonical
from .base import (
    AppendContext,
    EventStore,
    NewEvent,
    prepare_events,
    stored_envelope,
    utc_now,
)


class InMemoryEventStore(EventStore):
    """Events in a list; a lock makes appends atomic and positions follow commit order."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._events: list[EventEnvelope] = []
        self._streams: dict[str, list[EventEnvelope]] = {}
        self._lock = asyncio.Lock()

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        async with self._lock:
            stream = self._streams.get(stream_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyConflict(stream_id, expected_version, len(stream))
            prev = stream[-1].hash if stream else GENESIS_HASH
            now = utc_now(self._clock.now())
            stored: list[EventEnvelope] = []
            for p in prepare_events(stream_id, expected_version, events, context, now):
                h = chain_hash_of_canonical(prev, p.canonical)
                position = len(self._events) + len(stored) + 1
                stored.append(stored_envelope(p, stream_id, context, now, prev, h, position))
                prev = h
            self._events.extend(stored)
            self._streams[stream_id] = [*stream, *stored]
            return stored

    async def read_stream(
        self, stream_id: str, after_version: int = 0, conn: Connection | None = None
    ) -> list[EventEnvelope]:
        return list(self._streams.get(stream_id, [])[after_version:])

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[EventEnvelope]:
        return self._events[after_position : after_position + limit]

    async def max_position(self) -> int:
        return len(self._events)

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))
