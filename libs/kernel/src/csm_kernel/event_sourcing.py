"""The event-sourced repository every service loads and saves its aggregates through.

An aggregate is immutable state with pure functions: `decide` (in the service's domain: a
command and the state give new events, or a domain error) and `evolve` (the state and one
recorded event give the next state). This module does the rest, once for every service:

- **Decoding** (`decode_event`, `decode_payload`): stored data becomes a payload only through
  the contract's upcasters and then the registry's model, so an old event version read by an
  aggregate is upgraded exactly as a consumer would upgrade it.
- **Loading** (`EventSourcedRepository.load`): the stream's events folded over `evolve`, after
  a snapshot's version when the service keeps snapshots.
- **Saving** (`EventSourcedRepository.save`): new events appended at the version the decision
  was made from; a stream that moved since raises `ConcurrencyConflict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload, payload_class

from .database import Connection
from .errors import NotFound
from .store import AppendContext, NewEvent
from .store.base import EventStore
from .upcasting import UPCASTERS, Upcasters

P_co = TypeVar("P_co", bound=EventPayload, covariant=True)
S = TypeVar("S")


@dataclass(frozen=True)
class Recorded(Generic[P_co]):
    """A decoded event as its stream recorded it: the payload and the envelope facts an
    `evolve` may need (when, by whom, at which version)."""

    payload: P_co
    stream_id: str
    stream_version: int
    occurred_at: datetime
    actor: str
    position: int | None = None


def decode_payload(
    event_type: str,
    version: int,
    data: Mapping[str, Any],
    upcasters: Upcasters = UPCASTERS,
) -> EventPayload:
    """The payload of stored event data: upcast to the newest version, then validated by the
    registry's model for that version (`UnknownEventType` or pydantic's `ValidationError` if
    the data is not a known event)."""
    version, upgraded = upcasters.upcast_data(event_type, version, data)
    return payload_class(event_type, version).model_validate(upgraded)


def decode_event(
    envelope: EventEnvelope, upcasters: Upcasters = UPCASTERS
) -> Recorded[EventPayload]:
    """A stored envelope as a `Recorded` payload (see `decode_payload`)."""
    return Recorded(
        payload=decode_payload(envelope.type, envelope.version, envelope.data, upcasters),
        stream_id=envelope.stream_id,
        stream_version=envelope.stream_version,
        occurred_at=envelope.occurred_at,
        actor=envelope.actor,
        position=envelope.position,
    )


class Versioned(Protocol):
    """What `save` needs of a state: which stream it is and the version it was decided at."""

    @property
    def stream_id(self) -> str: ...

    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class NewStream:
    """A stream not written yet: save its first events at version 0."""

    stream_id: str
    version: int = 0


#: The next state after one recorded event (`None`: before the stream's first event). The
#: state it returns must be at `recorded.stream_version`.
Evolve = Callable[[S | None, Recorded[EventPayload]], S]


class SnapshotStore(Protocol[S]):
    """Where a service keeps recent states so loads fold only the newer events."""

    async def read(self, stream_id: str, conn: Connection | None = None) -> S | None:
        """The latest state kept for a stream, or None."""
        ...

    async def write(self, state: S) -> None:
        """Keep a state (best effort: a lost snapshot only costs a longer fold)."""
        ...


#: A stored event as one SQL statement can give it with a snapshot row:
#: `(type, version, occurred_at, data)`, `occurred_at` as a datetime or ISO 8601 text.
EventRow = tuple[str, int, datetime | str, Mapping[str, Any]]


class EventSourcedRepository(Generic[S]):
    """Loads aggregates by folding their streams and saves their new events.

    `S` is the aggregate's immutable state; `evolve` its pure evolution function. Every state
    a load returns has a `version` equal to its stream's (the `Versioned` protocol), which is
    what `save` appends at.
    """

    def __init__(
        self,
        store: EventStore,
        evolve: Evolve[S],
        *,
        upcasters: Upcasters = UPCASTERS,
        snapshots: SnapshotStore[S] | None = None,
        kind: str = "stream",
    ) -> None:
        self.store = store
        self.evolve = evolve
        self.upcasters = upcasters
        self.snapshots = snapshots
        self.kind = kind

    def decode(self, envelope: EventEnvelope) -> Recorded[EventPayload]:
        """One stored event, decoded through this repository's upcasters."""
        return decode_event(envelope, self.upcasters)

    def fold(self, state: S | None, envelopes: Iterable[EventEnvelope]) -> S | None:
        """`state` after the stored events, oldest first."""
        for envelope in envelopes:
            state = self.evolve(state, decode_event(envelope, self.upcasters))
        return state

    def fold_recorded(self, state: S | None, events: Iterable[Recorded[EventPayload]]) -> S | None:
        """`state` after already decoded events, oldest first."""
        for recorded in events:
            state = self.evolve(state, recorded)
        return state

    def fold_rows(
        self,
        state: S | None,
        stream_id: str,
        after_version: int,
        rows: Iterable[EventRow],
        actor: str = "",
    ) -> S | None:
        """`state` (at `after_version`) after a stream's next events given as bare rows: for a
        hot path that reads a snapshot row and its tail in one statement. The rows' stream
        versions follow `after_version` in order."""
        for version_in_stream, (event_type, version, occurred_at, data) in enumerate(
            rows, start=after_version + 1
        ):
            at = (
                datetime.fromisoformat(occurred_at) if isinstance(occurred_at, str) else occurred_at
            )
            recorded = Recorded(
                payload=decode_payload(event_type, version, data, self.upcasters),
                stream_id=stream_id,
                stream_version=version_in_stream,
                occurred_at=at,
                actor=actor,
            )
            state = self.evolve(state, recorded)
        return state

    async def load(self, stream_id: str, conn: Connection | None = None) -> S | None:
        """The stream's current state, or None if it has no events. On `conn`, inside the
        caller's transaction."""
        state: S | None = None
        after = 0
        if self.snapshots is not None:
            state = await self.snapshots.read(stream_id, conn)
            if state is not None:
                after = _version_of(state)
        events = await self.store.read_stream(stream_id, after, conn)
        return self.fold(state, events)

    async def get(self, stream_id: str, conn: Connection | None = None) -> S:
        """The stream's current state; `NotFound` if it has no events."""
        state = await self.load(stream_id, conn)
        if state is None:
            raise NotFound(f"no {self.kind} {stream_id}")
        return state

    async def save(
        self,
        state: Versioned,
        events: Sequence[EventPayload],
        context: AppendContext,
        conn: Connection | None = None,
    ) -> list[EventEnvelope]:
        """Append `events` to `state`'s stream at `state.version` (`ConcurrencyConflict` if the
        stream has moved since). On `conn`, inside the caller's transaction."""
        if not events:
            return []
        new = [NewEvent.from_payload(e) for e in events]
        if conn is None:
            return await self.store.append(state.stream_id, state.version, new, context)
        return await self.store.append_with(conn, state.stream_id, state.version, new, context)

    async def save_and_evolve(
        self,
        state: Versioned,
        events: Sequence[EventPayload],
        context: AppendContext,
        conn: Connection | None = None,
    ) -> tuple[S | None, list[EventEnvelope]]:
        """`save`, and the state after the saved events (built from what was stored)."""
        stored = await self.save(state, events, context, conn)
        before: Any = None if isinstance(state, NewStream) else state
        return self.fold(before, stored), stored


def _version_of(state: object) -> int:
    version = getattr(state, "version", None)
    if not isinstance(version, int):
        raise TypeError(f"{type(state).__name__} has no integer version: it cannot be a snapshot")
    return version
