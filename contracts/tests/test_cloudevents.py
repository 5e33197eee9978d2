"""The CloudEvents 1.0 Kafka binding (binary mode): encode, decode, and what cannot be decoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from csm_contracts.cloudevents import (
    CONTENT_TYPE,
    HEADERS,
    SPEC_VERSION,
    UndecodableMessage,
    declared_event,
    decode,
    encode,
    header_map,
)
from csm_contracts.envelope import EventEnvelope

PREV = "0" * 64
HASH = "3f" * 32
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def envelope(**overrides: Any) -> EventEnvelope:
    fields: dict[str, Any] = {
        "event_id": UUID("6f1c1c52-3f43-4a3e-9d0e-7d8a6f1b2c3d"),
        "type": "registration.OrganisationRegistered",
        "version": 1,
        "occurred_at": datetime(2009, 10, 1, 9, 30, 15, 123456, tzinfo=UTC),
        "stream_id": "organisation-5NT",
        "stream_version": 1,
        "key": "5NT",
        "correlation_id": "req-42",
        "causation_id": None,
        "actor": "user:admin@example.org",
        "data": {"organisation_id": "5NT", "code": "5NT", "name": "Manchester PCT, Ünïcode"},
        "prev_hash": PREV,
        "hash": HASH,
        "position": None,
    }
    fields.update(overrides)
    return EventEnvelope(**fields)


def headers_of(env: EventEnvelope, traceparent: str | None = None) -> dict[str, str]:
    _, _, headers = encode(env, traceparent)
    return header_map(headers)


def encoded(env: EventEnvelope | None = None) -> tuple[list[tuple[str, bytes]], bytes]:
    _, value, headers = encode(env or envelope())
    return headers, value


def without(headers: list[tuple[str, bytes]], *names: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if k not in names]


def replaced(headers: list[tuple[str, bytes]], name: str, value: str) -> list[tuple[str, bytes]]:
    return [*without(headers, name), (name, value.encode())]


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_preserves_the_envelope_with_no_causation_or_position() -> None:
    env = envelope()
    _, value, headers = encode(env)
    decoded = decode(headers, value)
    assert decoded == env
    assert decoded.causation_id is None
    assert decoded.position is None
    assert decoded.hashed_content() == env.hashed_content()


def test_round_trip_preserves_causation_and_position() -> None:
    env = envelope(causation_id="evt-1", position=12345, stream_version=7, version=2)
    _, value, headers = encode(env, TRACEPARENT)
    decoded = decode(headers, value)
    assert decoded == env
    assert decoded.causation_id == "evt-1"
    assert decoded.position == 12345


def test_round_trip_preserves_a_non_utc_offset_and_the_hashed_content() -> None:
    env = envelope(occurred_at=datetime(2010, 3, 31, 23, 59, tzinfo=timezone(timedelta(hours=1))))
    _, value, headers = encode(env)
    decoded = decode(headers, value)
    assert decoded == env
    assert decoded.hashed_content() == env.hashed_content()


# --- headers, key and value -------------------------------------------------------------------


def test_headers_follow_the_cloudevents_kafka_binding() -> None:
    env = envelope()
    headers = headers_of(env, TRACEPARENT)
    assert headers["ce_specversion"] == SPEC_VERSION == "1.0"
    assert headers["ce_id"] == str(env.event_id)
    assert headers["ce_source"] == "/csm/registration"
    assert headers["ce_type"] == "registration.OrganisationRegistered"
    assert headers["ce_time"] == "2009-10-01T09:30:15.123456+00:00"
    assert headers["ce_subject"] == "organisation-5NT"
    assert headers["content-type"] == CONTENT_TYPE == "application/json"
    assert headers["traceparent"] == TRACEPARENT
    assert headers["ce_eventversion"] == "1"
    assert headers["ce_dataschema"] == "urn:csm:schema:registration.OrganisationRegistered:v1"
    assert headers["ce_partitionkey"] == "5NT"
    assert headers["ce_prevhash"] == PREV
    assert headers["ce_hash"] == HASH


def test_ce_source_names_the_publishing_service() -> None:
    headers = headers_of(envelope(type="questionnaire.CycleSignedOff"))
    assert headers["ce_source"] == "/csm/questionnaire"


def test_optional_headers_are_left_out_when_absent() -> None:
    headers = headers_of(envelope())
    assert "traceparent" not in headers
    assert "ce_causationid" not in headers
    assert "ce_position" not in headers


def test_every_header_name_is_unique_and_every_value_is_bytes() -> None:
    _, _, headers = encode(envelope(causation_id="c", position=1), TRACEPARENT)
    names = [k for k, _ in headers]
    assert len(names) == len(set(names))
    assert all(isinstance(v, bytes) for _, v in headers)


def test_key_is_the_envelope_key_and_value_is_the_data_as_json() -> None:
    env = envelope()
    key, value, _ = encode(env)
    assert key == b"5NT"
    assert json.loads(value) == env.data
    assert "Ünïcode".encode() in value  # UTF-8, not \u escapes


# --- what cannot be decoded -------------------------------------------------------------------


def test_a_value_that_is_not_json_is_undecodable() -> None:
    headers, _ = encoded()
    with pytest.raises(UndecodableMessage, match="value is not JSON"):
        decode(headers, b"\x00not json{")


def test_an_empty_value_is_undecodable() -> None:
    headers, _ = encoded()
    with pytest.raises(UndecodableMessage, match="value is not JSON"):
        decode(headers, None)


def test_a_json_array_value_is_undecodable() -> None:
    headers, _ = encoded()
    with pytest.raises(UndecodableMessage, match="value is not a JSON object"):
        decode(headers, b"[1, 2]")


def test_a_message_without_ce_specversion_is_undecodable() -> None:
    headers, value = encoded()
    with pytest.raises(UndecodableMessage, match="ce_specversion") as info:
        decode(without(headers, "ce_specversion"), value)
    assert "1.0" in str(info.value)


def test_a_message_with_no_headers_at_all_is_undecodable() -> None:
    _, value = encoded()
    with pytest.raises(UndecodableMessage, match="ce_specversion"):
        decode(None, value)


def test_a_different_specversion_is_undecodable() -> None:
    headers, value = encoded()
    with pytest.raises(UndecodableMessage, match=r"ce_specversion is '0\.3', not 1\.0"):
        decode(replaced(headers, "ce_specversion", "0.3"), value)


def test_missing_headers_are_named() -> None:
    headers, value = encoded()
    with pytest.raises(UndecodableMessage) as info:
        decode(without(headers, "ce_id", "ce_source", "ce_hash", "ce_partitionkey"), value)
    message = str(info.value)
    assert message == "missing headers: ce_id, ce_source, ce_hash, ce_partitionkey"
    for name in ("ce_id", "ce_source", "ce_hash", "ce_partitionkey"):
        assert name in message
    assert "ce_type" not in message


def test_a_bad_hash_is_an_invalid_envelope() -> None:
    headers, value = encoded()
    with pytest.raises(UndecodableMessage, match="invalid envelope") as info:
        decode(replaced(headers, "ce_hash", "NOT-A-HASH"), value)
    assert "hash" in str(info.value)


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        ("ce_id", "not-a-uuid", "ce_id"),
        ("ce_time", "yesterday", "ce_time"),
        ("ce_time", "2009-10-01T09:30:15", "occurred_at"),
        ("ce_eventversion", "one", "ce_eventversion"),
        ("ce_eventversion", "0", "version"),
        ("ce_type", "OrganisationRegistered", "type"),
        ("ce_position", "first", "ce_position"),
    ],
)
def test_an_invalid_envelope_field_is_undecodable(header: str, value: str, says: str) -> None:
    headers, body = encoded()
    with pytest.raises(UndecodableMessage, match="invalid envelope") as info:
        decode(replaced(headers, header, value), body)
    assert says in str(info.value)


def test_the_headers_declare_the_type_and_version_whatever_the_value() -> None:
    headers, _ = encoded(envelope(version=99, position=7))
    assert declared_event(header_map(headers)) == ("registration.OrganisationRegistered", 99)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("ce_specversion", "0.3"),
        ("ce_eventversion", "one"),
        ("ce_eventversion", "0"),
        ("ce_type", "OrganisationRegistered"),
        ("ce_type", "registration.OrganisationRegistered\n"),
        ("ce_position", "first"),
    ],
)
def test_headers_decode_would_refuse_declare_nothing(header: str, value: str) -> None:
    headers, body = encoded()
    with pytest.raises(UndecodableMessage):
        decode(replaced(headers, header, value), body)
    assert declared_event(header_map(replaced(headers, header, value))) is None


def test_headers_missing_one_that_decode_needs_declare_nothing() -> None:
    headers, _ = encoded()
    assert declared_event(header_map(without(headers, "ce_hash"))) is None
    assert declared_event(header_map(without(headers, "ce_specversion"))) is None


def test_every_header_is_in_the_contracts_doc() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
    text = doc.read_text()
    for spec in HEADERS:
        assert f"| `{spec.name}` |" in text, f"{spec.name} missing from docs/contracts.md"
