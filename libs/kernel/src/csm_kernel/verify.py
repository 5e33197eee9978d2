"""The hash-chain verifier: anyone can check a history; a changed or removed event is caught."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass

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


async def verify_all(events: AsyncIterable[EventEnvelope]) -> list[BrokenLink]:
    """Check every stream in a global-order history; the first broken link of each stream.

    A deleted final event of a stream cannot be seen from the chain alone: compare the stream
    heads with a published record such as the `stream_heads` in a CycleSignedOff.
    """
    heads: dict[str, tuple[int, str]] = {}
    broken: dict[str, BrokenLink] = {}
    async for ev in events:
        if ev.stream_id in broken:
            continue
        version, prev = heads.get(ev.stream_id, (0, GENESIS_HASH))
        if (link := check_link(ev, version, prev)) is not None:
            broken[ev.stream_id] = link
        else:
            heads[ev.stream_id] = (ev.stream_version, ev.hash)
    return list(broken.values())
