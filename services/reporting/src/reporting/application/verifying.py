"""Checking what reporting holds: each journal event's hash against its stream's chain, as the
services sent them (`csm-reporting verify`).

Reporting keeps no event store of its own (the kernel's `verify` reads an empty `events`
table here); its journal holds every event of every service with the `prev_hash` and `hash`
they were published with. Each stream's events are checked in journal order by the kernel's
own link check (`csm_kernel.verify.check_link`: the next version, the previous hash, and the
hash recomputed over the content), and the first broken link of each stream is reported.

As in the kernel, a deleted last event of a stream cannot be seen from the chain alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from csm_kernel.hashing import GENESIS_HASH, canonical_json
from csm_kernel.verify import BrokenLink, Verification, check_link

from .ports import JournalledEvent, ReceivedEvents

#: The kernel's reason for a hash that does not match the content.
_CONTENT = "content does not match its hash"


async def verify_journal(
    journal: ReceivedEvents, on_event: Callable[[int], None] | None = None
) -> Verification:
    """Check every stream's hash chain in the journal; `on_event` is told the journal position
    of each event read (for a progress bar)."""
    heads: dict[str, tuple[int, str]] = {}
    broken: dict[str, BrokenLink] = {}
    result = Verification()
    async for got in journal.received():
        ev = got.envelope
        result.events += 1
        result.last_position = ev.position or result.last_position
        if on_event is not None:
            on_event(result.last_position)
        if ev.stream_id in broken:
            continue
        version, prev = heads.get(ev.stream_id, (0, GENESIS_HASH))
        if (link := check_link(ev, version, prev)) is not None:
            broken[ev.stream_id] = _explained(link, got)
        else:
            heads[ev.stream_id] = (ev.stream_version, ev.hash)
    result.streams = len(heads.keys() | broken.keys())
    result.broken = list(broken.values())
    return result


def _explained(link: BrokenLink, got: JournalledEvent) -> BrokenLink:
    """The link, saying at which journal position it broke and, for a hash that does not
    match, what reporting itself may have changed (it does not excuse it)."""
    reason = f"{link.reason} (seen at journal position {got.envelope.position})"
    if link.reason == _CONTENT:
        if not got.causation_kept and got.envelope.causation_id is None:
            reason += "; journalled before reporting kept causation ids, which the hash covers"
        if "\ufffd" in canonical_json(got.envelope.hashed_content()):
            reason += "; its text holds U+FFFD, which replaces NUL or a lone surrogate on receipt"
    return replace(link, reason=reason)
