"""Builds event histories for reporting tests: real contract payloads in real envelopes."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import Timetable
from csm_contracts.registry import EventPayload
from csm_kernel.hashing import GENESIS_HASH, chain_hash

START = datetime(2009, 11, 2, 9, 0, tzinfo=UTC)

#: The 2009-10 timetable (DESIGN §2).
TIMETABLE = Timetable(
    sandbox_opens=datetime(2009, 10, 1, tzinfo=UTC),
    data_entry_opens=datetime(2009, 11, 2, tzinfo=UTC),
    summary_reports=datetime(2010, 1, 11, tzinfo=UTC),
    data_entry_closes=datetime(2010, 2, 28, 23, 59, tzinfo=UTC),
    publication=datetime(2010, 4, 1, tzinfo=UTC),
)


class History:
    """Events in the order they happened, each a minute after the last unless `at` is given."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.envelopes: list[EventEnvelope] = []
        self._versions: dict[str, int] = defaultdict(int)

    def add(
        self,
        payload: EventPayload,
        *,
        at: datetime | None = None,
        stream_id: str | None = None,
        actor: str = "user:test",
    ) -> EventEnvelope:
        """Append one event; returns its envelope."""
        self.now = at if at is not None else self.now + timedelta(minutes=1)
        data: dict[str, Any] = payload.model_dump(mode="json")
        key = str(data.get("organisation_id") or "NATIONAL")
        stream = stream_id or f"{payload.EVENT_TYPE.split('.')[0]}-{key}"
        self._versions[stream] += 1
        event_id = uuid.uuid4()
        digest = hashlib.sha256(event_id.bytes).hexdigest()
        envelope = EventEnvelope(
            event_id=event_id,
            type=payload.EVENT_TYPE,
            version=payload.VERSION,
            occurred_at=self.now,
            stream_id=stream,
            stream_version=self._versions[stream],
            key=key,
            correlation_id=str(uuid.uuid4()),
            actor=actor,
            data=data,
            prev_hash="0" * 64,
            hash=digest,
        )
        self.envelopes.append(envelope)
        return envelope

    def take(self) -> list[EventEnvelope]:
        """The events added since the last `take`."""
        out, self.envelopes = self.envelopes, []
        return out


# --- as the event stores hold it: each event in its service's store (by its type's prefix),
# numbered in that store's position order, its stream's hash chain computed as the stores do.


def as_stores(envelopes: Iterable[EventEnvelope]) -> dict[str, list[EventEnvelope]]:
    """The events split into their stores, positioned and hash-chained, in the given order."""
    stores: dict[str, list[EventEnvelope]] = defaultdict(list)
    heads: dict[str, str] = {}
    for e in envelopes:
        store = e.type.split(".")[0]
        prev = heads.get(e.stream_id, GENESIS_HASH)
        unchained = e.model_copy(update={"prev_hash": prev})
        chained = unchained.model_copy(
            update={
                "hash": chain_hash(prev, unchained.hashed_content()),
                "position": len(stores[store]) + 1,
            }
        )
        heads[e.stream_id] = chained.hash
        stores[store].append(chained)
    return dict(stores)


def in_history_order(
    stores: dict[str, list[EventEnvelope]], order: Sequence[EventEnvelope]
) -> list[EventEnvelope]:
    """The stored events in the order they were recorded (`order`, the history's own), as a
    live consumer receives them: every store in its position order."""
    by_id = {e.event_id: e for events in stores.values() for e in events}
    return [by_id[e.event_id] for e in order]
