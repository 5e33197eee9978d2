"""Upcasters: old event versions are upgraded on read by registered functions.

A function registered for `(type, n)` turns version-n data into version n+1 data; reading
applies them in turn until the newest version. Stored events (and their hashes) never change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from csm_contracts.envelope import EventEnvelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """A registry of upcasting functions, keyed by event type and the version they read."""

    def __init__(self) -> None:
        self._fns: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: `fn` upgrades `event_type` data from `from_version` to `from_version + 1`."""

        def decorate(fn: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._fns:
                raise ValueError(f"an upcaster for {event_type} v{from_version} already exists")
            self._fns[key] = fn
            return fn

        return decorate

    def upcast_data(
        self, event_type: str, version: int, data: Mapping[str, Any]
    ) -> tuple[int, Mapping[str, Any]]:
        """Stored data of `(event_type, version)` at the newest version there are upcasters
        for, and that version (the data itself, untouched, if none apply)."""
        while (fn := self._fns.get((event_type, version))) is not None:
            data = fn(dict(data))
            version += 1
        return version, data

    def upcast(self, event: EventEnvelope) -> EventEnvelope:
        """The event at the newest version there are upcasters for (itself if none apply)."""
        version, data = self.upcast_data(event.type, event.version, event.data)
        if version == event.version:
            return event
        return event.model_copy(update={"version": version, "data": dict(data)})


UPCASTERS = Upcasters()
"""The contract's upcasters: where a new event version registers how to read its old ones.
Every read of stored or published events goes through it (consumers and
`csm_kernel.event_sourcing` alike), so an aggregate and a consumer see the same upgraded event.
"""

NO_UPCASTERS = Upcasters()
"""An empty registry, for tests that need to show what happens without upcasting."""
