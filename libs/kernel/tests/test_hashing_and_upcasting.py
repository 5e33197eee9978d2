from __future__ import annotations

import pytest

from csm_kernel.hashing import GENESIS_HASH, canonical_json, chain_hash
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from csm_kernel.upcasting import Upcasters


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_chain_hash_depends_on_predecessor_and_content() -> None:
    h1 = chain_hash(GENESIS_HASH, {"x": 1})
    assert len(h1) == 64
    assert chain_hash(GENESIS_HASH, {"x": 1}) == h1
    assert chain_hash(GENESIS_HASH, {"x": 2}) != h1
    assert chain_hash(h1, {"x": 1}) != h1


async def test_upcasters_apply_in_turn_without_touching_the_stored_event() -> None:
    upcasters = Upcasters()

    @upcasters.register("registration.Thing", 1)
    def v1_to_v2(data: dict) -> dict:
        data["name"] = data.pop("title")
        return data

    @upcasters.register("registration.Thing", 2)
    def v2_to_v3(data: dict) -> dict:
        return {**data, "areas": []}

    store = InMemoryEventStore()
    (stored,) = await store.append(
        "x", 0, [NewEvent("registration.Thing", 1, {"title": "A"}, "K")], AppendContext("t")
    )
    upcast = upcasters.upcast(stored)
    assert (upcast.version, upcast.data) == (3, {"name": "A", "areas": []})
    assert stored.version == 1 and stored.data == {"title": "A"}
    assert upcasters.upcast(upcast) == upcast


def test_an_upcaster_cannot_be_registered_twice() -> None:
    upcasters = Upcasters()
    upcasters.register("registration.Thing", 1)(lambda d: d)
    with pytest.raises(ValueError, match="already exists"):
        upcasters.register("registration.Thing", 1)(lambda d: d)


@pytest.mark.parametrize(
    "data, causation",
    [
        ({"code": "5A4", "n": 1}, None),
        ({"z": {"y": [3, {"b": 1, "a": 2}]}, "é": "ünïcödé ✓", "f": 1e16, "g": 0.1}, "cause-1"),
        ({}, 'quote " and \\ backslash'),
    ],
)
def test_prepared_canonical_json_is_exactly_the_hashed_fields(data: dict, causation) -> None:
    from datetime import UTC, datetime

    from csm_contracts.envelope import hashed_fields
    from csm_kernel.store.base import prepare_events

    now = datetime(2009, 11, 2, 9, 30, tzinfo=UTC)
    ctx = AppendContext(actor="lead@x.nhs.uk", correlation_id="c-1", causation_id=causation)
    events = [
        NewEvent("registration.Thing", 2, data, "K1"),
        NewEvent("registration.Other", 1, data, "K2"),
    ]
    for p in prepare_events("stream-1", 4, events, ctx, now):
        expected = hashed_fields(
            event_id=p.event_id,
            type=p.event.type,
            version=p.event.version,
            occurred_at=now,
            stream_id="stream-1",
            stream_version=p.stream_version,
            key=p.event.key,
            correlation_id="c-1",
            causation_id=causation,
            actor="lead@x.nhs.uk",
            data=data,
        )
        assert p.canonical == canonical_json(expected)
