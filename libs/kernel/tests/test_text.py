"""Text PostgreSQL can hold: NUL and lone surrogates replaced by U+FFFD wherever they are,
JSON for `jsonb` columns that PostgreSQL accepts, and consumer handlers that get such events
scrubbed instead of failing on them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from csm_contracts.envelope import EventEnvelope
from csm_kernel.text import scrub, storable_handlers, storable_json, unstorable_reason


def test_scrub_replaces_nul_and_lone_surrogates_at_any_depth_keys_included() -> None:
    value = {"a\x00": ["x\x00y", {"b": "\ud800"}], "n": 10**30, "ok": "fine", "t": ("\x00",)}
    assert scrub(value) == {
        "a\ufffd": ["x\ufffdy", {"b": "\ufffd"}],
        "n": 10**30,
        "ok": "fine",
        "t": ("\ufffd",),
    }
    clean = {"a": ["b", {"c": 1}]}
    assert scrub(clean) == clean
    assert unstorable_reason("a\x00") == "must not contain the NUL character (U+0000)"
    assert unstorable_reason("\udcff") == "must be valid UTF-8 text"
    assert unstorable_reason("😀 ok") is None


async def test_storable_json_is_accepted_by_jsonb(pg_pool: asyncpg.Pool) -> None:
    values: list[Any] = [
        {"note": "a\x00b", "nested": [{"k\x00": "\ud800"}]},
        {"total": 10**30, "small": 3},
        {"literal": "\\u0000 is six characters"},
        {"plain": "Ünïcödé"},
    ]
    for value in values:
        stored = await pg_pool.fetchval("SELECT $1::jsonb::text", storable_json(value))
        assert json.loads(stored) == scrub(value)
    # A literal backslash-u0000 is kept as it is, not mistaken for a NUL.
    assert json.loads(storable_json(values[2])) == values[2]


class Said(BaseModel):
    message: str
    to: list[str]


def _envelope(data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type="test.Said",
        version=1,
        occurred_at=datetime.now(UTC),
        stream_id="s-1",
        stream_version=1,
        key="k",
        correlation_id="c",
        actor="tester",
        data=data,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


async def test_storable_handlers_hand_over_the_event_scrubbed() -> None:
    seen: list[tuple[EventEnvelope, Said]] = []

    async def handler(conn: Any, envelope: EventEnvelope, payload: Said) -> None:
        seen.append((envelope, payload))

    wrapped = storable_handlers({"test.Said": handler})["test.Said"]
    data = {"message": "hello\x00world", "to": ["a\x00"]}
    await wrapped(None, _envelope(data), Said.model_validate(data))
    envelope, payload = seen[-1]
    assert payload == Said(message="hello\ufffdworld", to=["a\ufffd"])
    assert envelope.data == {"message": "hello\ufffdworld", "to": ["a\ufffd"]}
    # A clean event reaches the handler as it came (the same objects).
    clean_envelope = _envelope({"message": "hi", "to": []})
    clean = Said(message="hi", to=[])
    await wrapped(None, clean_envelope, clean)
    assert seen[-1][0] is clean_envelope and seen[-1][1] is clean
