"""The envelope every stored and published event carries (DESIGN.md section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EVENT_TYPE_PATTERN = r"^[a-z]+\.[A-Z][A-Za-z]+$"
"""What an event type looks like: `<service>.<EventName>`."""


class EventEnvelope(BaseModel):
    """One event as stored and published: metadata plus the payload as a JSON object.

    `hash` is `sha256(prev_hash || canonical_json(event))` over every field here except `hash`
    itself and `position` (see `csm_kernel.hashing`). `actor` names who did it and is never a
    secret. `key` is the organisation id the message is keyed by on Kafka.
    """

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str = Field(pattern=EVENT_TYPE_PATTERN, examples=["registration.OrganisationRegistered"])
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    stream_id: str = Field(min_length=1, max_length=200)
    stream_version: int = Field(ge=1)
    key: str = Field(min_length=1, max_length=200, description="organisation id; the Kafka key")
    correlation_id: str
    causation_id: str | None = None
    actor: str
    data: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    position: int | None = Field(default=None, description="global position in the source store")

    @classmethod
    def trusted(cls, **fields: Any) -> EventEnvelope:
        """Build without validation, for rows an event store wrote itself (its constraints
        already hold). Every field must be given with its proper type. Several times faster
        than `model_construct`, which matters when replaying millions of events."""
        envelope = cls.__new__(cls)
        fields.setdefault("position", None)
        object.__setattr__(envelope, "__dict__", fields)
        object.__setattr__(envelope, "__pydantic_fields_set__", set(fields))
        object.__setattr__(envelope, "__pydantic_extra__", None)
        object.__setattr__(envelope, "__pydantic_private__", None)
        return envelope

    def hashed_content(self) -> dict[str, Any]:
        """The fields the chain hash covers, in JSON form."""
        return hashed_fields(
            event_id=self.event_id,
            type=self.type,
            version=self.version,
            occurred_at=self.occurred_at,
            stream_id=self.stream_id,
            stream_version=self.stream_version,
            key=self.key,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            actor=self.actor,
            data=self.data,
        )


def hashed_fields(
    *,
    event_id: UUID,
    type: str,
    version: int,
    occurred_at: datetime,
    stream_id: str,
    stream_version: int,
    key: str,
    correlation_id: str,
    causation_id: str | None,
    actor: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The canonical, JSON-ready content of an event that its chain hash covers."""
    return {
        "event_id": str(event_id),
        "type": type,
        "version": version,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "stream_id": stream_id,
        "stream_version": stream_version,
        "key": key,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "actor": actor,
        "data": data,
    }
