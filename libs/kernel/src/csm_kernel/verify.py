"""The hash-chain verifier: anyone can check a history; a changed or removed event is caught."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field

from csm_contracts.envelope import EventEnvelope

from .hashing import GENESIS_HASH, chain_hash


@dataclass(frozen=True)
class BrokenLink:
    """The first place a stream's chain does not hold, and why."""

    stream_id: str
    stream_version: int
    reason: str


def check_link(ev: EventEnvelope, head_version: int, head_hash: str) -> BrokenLink | None:
    """Does `ev` follow a stream whose head is (version, hash)? None when it does."""
    if ev.stream_version != head_version + 1:
        return BrokenLink(ev.stream_id, head_version + 1, f"version {head_version + 1} is missing")
    if ev.prev_hash != head_hash:
        return BrokenLink(
            ev.stream_id, ev.stream_version, "prev_hash does not match the previous event's hash"
        )
    if chain_hash(head_hash, ev.hashed_content()) != ev.hash:
        return BrokenLink(ev.stream_id, ev.stream_version, "content does not match its hash")
    return None


def verify_stream(events: Iterable[EventEnvelope]) -> BrokenLink | None:
    """Check one stream's events (in stream order); None when the chain holds."""
    version, prev = 0, GENESIS_HASH
    for ev in events:
        if (link := check_link(ev, version, prev)) is not None:
            return link
        version, prev = ev.stream_version, ev.hash
    return None


@dataclass
class Verification:
    """What a check of a whole history found: how many events and streams it read, and the
    first broken link of each broken stream."""

    events: int = 0
    streams: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    #: The global position of the last event read (0 when none).
    last_position: int = 0


async def verify_history(
    events: AsyncIterable[EventEnvelope], on_event: Callable[[int], None] | None = None
) -> Verification:
    """Check every stream in a global-order history; `on_event` is told the position of each
    event read (for a progress bar).

    A deleted final event of a stream cannot be seen from the chain alone: compare the stream
    heads with a published record such as the `stream_heads` in a CycleSignedOff.
    """
    heads: dict[str, tuple[int, str]] = {}
    broken: dict[str, BrokenLink] = {}
    result = Verification()
    async for ev in events:
        result.events += 1
        result.last_position = ev.position or result.last_position
        if on_event is not None:
            on_event(result.last_position)
        if ev.stream_id in broken:
            continue
        version, prev = heads.get(ev.stream_id, (0, GENESIS_HASH))
        if (link := check_link(ev, version, prev)) is not None:
            broken[ev.stream_id] = link
        else:
            heads[ev.stream_id] = (ev.stream_version, ev.hash)
    result.streams = len(heads.keys() | broken.keys())
    result.broken = list(broken.values())
    return result


async def verify_all(events: AsyncIterable[EventEnvelope]) -> list[BrokenLink]:
    """Check every stream in a global-order history; the first broken link of each stream."""
    return (await verify_history(events)).broken
