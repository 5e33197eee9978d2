"""What every event store promises.

- `append` is atomic and checks the stream's expected version (`ConcurrencyConflict` if not).
- Global positions increase in commit order: a reader that has read up to position N never later
  finds a new event below N (see the PostgreSQL store for how).
- Each event's `hash` chains to its predecessor in the stream.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload

from ..database import Connection
from ..hashing import canonical_json
from ..upcasting import WRITE_VERSIONS, WriteVersions


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended: its type, schema version, payload and Kafka key."""

    type: str
    version: int
    data: dict[str, Any]
    key: str

    @classmethod
    def from_payload(
        cls, payload: EventPayload, write_versions: WriteVersions | None = None
    ) -> NewEvent:
        """A new event from a contract payload model, at the version the process writes it
        as (`csm_kernel.upcasting.WRITE_VERSIONS` unless given)."""
        version, data = (write_versions or WRITE_VERSIONS).written(payload)
        return cls(type=payload.EVENT_TYPE, version=version, data=data, key=payload.partition_key)


@dataclass(frozen=True)
class AppendContext:
    """Who is appending and why: recorded in every event's envelope.

    `trace_context` (a W3C traceparent) is stored beside the event, outside the hash, so the
    relay can continue the trace of the request that caused the event.
    """

    actor: str
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str | None = None
    trace_context: str | None = None


@dataclass(frozen=True)
class PreparedEvent:
    """A new event numbered and stamped for its stream, with the canonical JSON its chain hash
    covers (the store chains it: `sha256(prev_hash || canonical)`)."""

    event: NewEvent
    event_id: uuid.UUID
    stream_version: int
    data_json: str
    canonical: str


def prepare_events(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    context: AppendContext,
    now: datetime,
) -> list[PreparedEvent]:
    """Number and stamp new events for a stream at `expected_version`.

    The canonical JSON equals `canonical_json(hashed_fields(...))` (a test holds it to that) but
    is assembled from parts: what every event of one append shares is serialised once, since
    this runs for every event written.
    """
    j = canonical_json
    # Keys in sorted order: actor, causation_id, correlation_id, data, event_id, key,
    # occurred_at, stream_id, stream_version, type, version.
    head = (
        f'{{"actor":{j(context.actor)},"causation_id":{j(context.causation_id)},'
        f'"correlation_id":{j(context.correlation_id)},"data":'
    )
    middle = (
        f',"occurred_at":{j(now.isoformat(timespec="microseconds"))},"stream_id":{j(stream_id)},'
        '"stream_version":'
    )
    out = []
    for i, ev in enumerate(events, start=1):
        event_id = uuid.uuid4()
        data = j(ev.data)
        canonical = (
            f'{head}{data},"event_id":"{event_id}","key":{j(ev.key)}{middle}'
            f'{expected_version + i},"type":{j(ev.type)},"version":{ev.version}}}'
        )
        out.append(PreparedEvent(ev, event_id, expected_version + i, data, canonical))
    return out


def stored_envelope(
    prepared: PreparedEvent,
    stream_id: str,
    context: AppendContext,
    occurred_at: datetime,
    prev_hash: str,
    hash_: str,
    position: int,
) -> EventEnvelope:
    """The envelope of an event the store has just written (trusted: built, not parsed)."""
    ev = prepared.event
    return EventEnvelope.trusted(
        event_id=prepared.event_id,
        type=ev.type,
        version=ev.version,
        occurred_at=occurred_at,
        stream_id=stream_id,
        stream_version=prepared.stream_version,
        key=ev.key,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        actor=context.actor,
        data=ev.data,
        prev_hash=prev_hash,
        hash=hash_,
        position=position,
    )


def utc_now(clock_now: datetime) -> datetime:
    """Stored as timestamptz and read back in UTC: hash the same text we will read back."""
    return clock_now.astimezone(UTC)


class EventStore(ABC):
    """An append-only store of event streams with a global, gap-free order."""

    @abstractmethod
    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        """Append events to a stream at `expected_version` (0 for a new stream), atomically.

        Returns the stored envelopes with their positions. Raises `ConcurrencyConflict` if the
        stream is not at `expected_version`.
        """

    async def append_with(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        """`append` inside the caller's transaction on `conn` (a store with no transactions
        appends on its own)."""
        return await self.append(stream_id, expected_version, events, context)

    @abstractmethod
    async def read_stream(
        self, stream_id: str, after_version: int = 0, conn: Connection | None = None
    ) -> list[EventEnvelope]:
        """A stream's events after a version, in order, as stored (not upcast); on `conn`
        when given, so a reader inside a transaction sees that transaction's writes."""

    @abstractmethod
    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[EventEnvelope]:
        """Events of every stream after a global position, in position order, as stored."""

    @abstractmethod
    async def max_position(self) -> int:
        """The highest global position stored (0 when empty)."""

    @abstractmethod
    async def stream_version(self, stream_id: str) -> int:
        """The current version of a stream (0 if it does not exist)."""

    async def iterate_all(
        self, after_position: int = 0, to_position: int | None = None, batch: int = 5000
    ) -> AsyncIterator[EventEnvelope]:
        """Every event after `after_position` up to `to_position` (inclusive), in order."""
        position = after_position
        while True:
            page = await self.read_all(position, batch)
            for ev in page:
                assert ev.position is not None
                if to_position is not None and ev.position > to_position:
                    return
                yield ev
            if len(page) < batch:
                return
            last = page[-1].position
            assert last is not None
            position = last
