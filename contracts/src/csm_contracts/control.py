"""Control messages: not events (nothing is stored or replayed), requests between services'
infrastructure, on `Topics.REPUBLISH_REQUESTS`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PositionRange(BaseModel):
    """Store positions after `after` up to and including `up_to`."""

    model_config = ConfigDict(frozen=True)

    after: int = Field(ge=0, le=2**62)
    up_to: int = Field(ge=1, le=2**62)


class RepublishRequest(BaseModel):
    """A consumer found positions of `source`'s store missing for longer than the delivery
    delay (a gap between positions it did receive) and asks that service's relay to publish
    those ranges again. Consumers skip what they already have, so asking twice is harmless;
    a request that is lost is asked again after the next delay."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(pattern=r"^[a-z]+$", description="the producing service")
    ranges: list[PositionRange] = Field(min_length=1, max_length=100)
    consumer: str = Field(min_length=1, max_length=200, description="who is missing them")
    requested_at: datetime
