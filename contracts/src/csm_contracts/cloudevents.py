"""The CloudEvents 1.0 Kafka protocol binding (binary content mode) for CSM events.

The message key is the organisation id; the value is the payload as JSON; every envelope field
travels as a `ce_*` header, with the W3C `traceparent` header beside them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import ValidationError

from .envelope import EVENT_TYPE_PATTERN, EventEnvelope

SPEC_VERSION = "1.0"
"""The CloudEvents specification version every message declares in `ce_specversion`."""
CONTENT_TYPE = "application/json"
_SPEC_VERSION_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()
"""The `content-type` of every message value (CloudEvents `datacontenttype`)."""

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers as a client library hands them over."""

T = TypeVar("T")


@dataclass(frozen=True)
class HeaderSpec:
    """One Kafka header of the binding: its name, its envelope source, whether always set."""

    name: str
    source: str
    required: bool
    description: str


HEADERS: tuple[HeaderSpec, ...] = (
    HeaderSpec("ce_specversion", "(constant)", True, "CloudEvents version: always `1.0`."),
    HeaderSpec("ce_id", "event_id", True, "The event's UUID; unique per event, the dedupe key."),
    HeaderSpec(
        "ce_source",
        "type (its service part)",
        True,
        "`/csm/<service>`: the publishing service, the part of the type before the dot.",
    ),
    HeaderSpec(
        "ce_type", "type", True, "The event type, e.g. `registration.OrganisationRegistered`."
    ),
    HeaderSpec(
        "ce_time",
        "occurred_at",
        True,
        "When it happened: RFC 3339, with its UTC offset and microseconds.",
    ),
    HeaderSpec("ce_subject", "stream_id", True, "The event-sourced stream the event belongs to."),
    HeaderSpec("content-type", "(constant)", True, "Always `application/json` (datacontenttype)."),
    HeaderSpec(
        "ce_dataschema",
        "type, version",
        True,
        "`urn:csm:schema:<type>:v<version>`: names the committed JSON Schema of the value.",
    ),
    HeaderSpec("ce_eventversion", "version", True, "The payload schema version (an integer)."),
    HeaderSpec("ce_streamversion", "stream_version", True, "The event's version in its stream."),
    HeaderSpec(
        "ce_correlationid", "correlation_id", True, "Ties together everything one request caused."
    ),
    HeaderSpec(
        "ce_causationid", "causation_id", False, "The event or command that caused it, if any."
    ),
    HeaderSpec("ce_actor", "actor", True, "Who did it (a user or service id; never a secret)."),
    HeaderSpec("ce_prevhash", "prev_hash", True, "The stream's previous chain hash (64 hex)."),
    HeaderSpec(
        "ce_hash",
        "hash",
        True,
        "sha256(prev_hash || canonical JSON of the event), 64 hex: verify the chain with it.",
    ),
    HeaderSpec(
        "ce_partitionkey",
        "key",
        True,
        "The organisation id: the same as the Kafka message key (CloudEvents partitioning).",
    ),
    HeaderSpec(
        "ce_position", "position", False, "The event's global position in the source store."
    ),
    HeaderSpec(
        "ce_previousposition",
        "(source store)",
        False,
        "The position of the event before it in the source store (0 for the first). Positions "
        "in between do not exist (an append rolled back), so a consumer that has both can tell "
        "a hole in the store from a message it never received.",
    ),
    HeaderSpec(
        "traceparent",
        "(trace context)",
        False,
        "W3C Trace Context of the publishing span, so consumer spans join the trace.",
    ),
)
"""Every header `encode` may write, in the order it writes them (the message key aside)."""


class UndecodableMessage(ValueError):
    """A Kafka message that is not a valid CSM CloudEvent. It belongs on a dead-letter topic."""


def _source(event_type: str) -> str:
    return f"/csm/{event_type.split('.', 1)[0]}"


def encode(
    envelope: EventEnvelope,
    traceparent: str | None = None,
    previous_position: int | None = None,
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """An envelope as (key, value, headers) for a Kafka producer; `previous_position` is the
    position of the stored event before it, where the caller knows it."""
    return encode_fields(
        event_id=str(envelope.event_id),
        event_type=envelope.type,
        version=envelope.version,
        time=envelope.occurred_at.isoformat(timespec="microseconds"),
        stream_id=envelope.stream_id,
        stream_version=envelope.stream_version,
        key=envelope.key,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        actor=envelope.actor,
        prev_hash=envelope.prev_hash,
        hash_=envelope.hash,
        position=envelope.position,
        data_json=json.dumps(envelope.data, separators=(",", ":"), ensure_ascii=False),
        traceparent=traceparent,
        previous_position=previous_position,
    )


def encode_fields(
    *,
    event_id: str,
    event_type: str,
    version: int,
    time: str,
    stream_id: str,
    stream_version: int,
    key: str,
    correlation_id: str,
    causation_id: str | None,
    actor: str,
    prev_hash: str,
    hash_: str,
    position: int | None,
    data_json: str,
    traceparent: str | None,
    previous_position: int | None = None,
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """`encode` from an event's fields, its payload already serialised as JSON text: what an
    event store's relay has in hand, so it need not parse and re-serialise every payload."""
    headers = [
        ("ce_specversion", _SPEC_VERSION_BYTES),
        ("ce_id", event_id.encode()),
        ("ce_source", _source(event_type).encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.encode()),
        ("ce_subject", stream_id.encode()),
        ("content-type", _CONTENT_TYPE_BYTES),
        ("ce_dataschema", f"urn:csm:schema:{event_type}:v{version}".encode()),
        ("ce_eventversion", str(version).encode()),
        ("ce_streamversion", str(stream_version).encode()),
        ("ce_correlationid", correlation_id.encode()),
        ("ce_actor", actor.encode()),
        ("ce_prevhash", prev_hash.encode()),
        ("ce_hash", hash_.encode()),
        ("ce_partitionkey", key.encode()),
    ]
    if causation_id is not None:
        headers.append(("ce_causationid", causation_id.encode()))
    if position is not None:
        headers.append(("ce_position", str(position).encode()))
    if previous_position is not None:
        headers.append(("ce_previousposition", str(previous_position).encode()))
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return key.encode(), data_json.encode(), headers


def header_map(headers: Headers | None) -> dict[str, str]:
    """Kafka headers as a str -> str dict (the last value wins)."""
    out: dict[str, str] = {}
    for k, v in headers or ():
        out[k] = v.decode("utf-8", errors="replace") if isinstance(v, bytes | bytearray) else str(v)
    return out


REQUIRED_HEADERS = (
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_eventversion",
    "ce_streamversion",
    "ce_correlationid",
    "ce_actor",
    "ce_prevhash",
    "ce_hash",
    "ce_partitionkey",
)
"""The headers `decode` needs besides ce_specversion (which it checks first, on its own)."""


_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)


def declared_event(h: Mapping[str, str]) -> tuple[str, int] | None:
    """The event type and version a message's headers (`header_map`) declare, read without its
    value: None unless it is a CloudEvent of this binding with every required header, a
    well-formed `ce_type`, a version `decode` would accept and, if it has one, an integer
    `ce_position` (`decode` then says what is wrong). The other headers' values are not
    checked: that is left to `decode`."""
    if h.get("ce_specversion") != SPEC_VERSION or any(k not in h for k in REQUIRED_HEADERS):
        return None
    event_type = h["ce_type"]
    if _EVENT_TYPE.fullmatch(event_type) is None:
        return None
    try:
        version = int(h["ce_eventversion"])
        if "ce_position" in h:
            int(h["ce_position"])
    except ValueError:
        return None
    return (event_type, version) if version >= 1 else None


def _parsed(h: dict[str, str], name: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(h[name])
    except ValueError as exc:
        raise UndecodableMessage(f"invalid envelope: header {name}={h[name]!r}: {exc}") from None


def decode(headers: Headers | None, value: bytes | None) -> EventEnvelope:
    """A Kafka message back into an envelope; UndecodableMessage says why it cannot be.

    The message key is not needed: the organisation id travels as `ce_partitionkey` too.
    """
    h = header_map(headers)
    if "ce_specversion" not in h:
        raise UndecodableMessage(
            f"missing header ce_specversion: not a CloudEvent (expected {SPEC_VERSION})"
        )
    if h["ce_specversion"] != SPEC_VERSION:
        raise UndecodableMessage(f"ce_specversion is {h['ce_specversion']!r}, not {SPEC_VERSION}")
    try:
        data: Any = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableMessage(f"value is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UndecodableMessage(f"value is not a JSON object but a {type(data).__name__}")
    missing = [k for k in REQUIRED_HEADERS if k not in h]
    if missing:
        raise UndecodableMessage(f"missing headers: {', '.join(missing)}")
    event_id = _parsed(h, "ce_id", UUID)
    version = _parsed(h, "ce_eventversion", int)
    occurred_at = _parsed(h, "ce_time", datetime.fromisoformat)
    stream_version = _parsed(h, "ce_streamversion", int)
    position = _parsed(h, "ce_position", int) if "ce_position" in h else None
    try:
        return EventEnvelope(
            event_id=event_id,
            type=h["ce_type"],
            version=version,
            occurred_at=occurred_at,
            stream_id=h["ce_subject"],
            stream_version=stream_version,
            key=h["ce_partitionkey"],
            correlation_id=h["ce_correlationid"],
            causation_id=h.get("ce_causationid"),
            actor=h["ce_actor"],
            data=data,
            prev_hash=h["ce_prevhash"],
            hash=h["ce_hash"],
            position=position,
        )
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid envelope: {exc}") from None
