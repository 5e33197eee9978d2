"""Upcasters: old event versions are upgraded on read by registered functions; and write
pins: a new event version is written as its previous one until every reader knows it.

A function registered for `(type, n)` turns version-n data into version n+1 data; reading
applies them in turn until the newest version. Stored events (and their hashes) never change.

A reader released before version n+1 existed cannot read it (it has no model for it and
dead-letters it, or fails to load the aggregate). So a release that adds version n+1 first
writes version n (`WRITE_VERSIONS`, from `CSM_EVENT_WRITE_VERSIONS`), and only once every
replica runs it is the pin lifted: expand, then switch (docs/contracts.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload, payload_class

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


@UPCASTERS.register("questionnaire.AnswersSaved", 1)
def answers_saved_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 did not record how many questions were answered after the save."""
    return {**data, "answered": None}


class WriteVersions:
    """Which version of an event type is written, where it is not the newest.

    `pins` maps an event type to the version written; a payload of a newer version is written
    as that version (its data validated by the older model, which ignores what was added).
    """

    def __init__(self, pins: Mapping[str, int]) -> None:
        for event_type, version in pins.items():
            payload_class(event_type, version)  # UnknownEventType for a pin to nothing
        self.pins = dict(pins)

    @classmethod
    def from_setting(cls, setting: str | None, defaults: Mapping[str, int]) -> WriteVersions:
        """`defaults`, changed by a setting such as `questionnaire.AnswersSaved=2` (comma
        separated; `=latest` lifts a pin). ValueError names an entry that does not parse."""
        pins = dict(defaults)
        for entry in (setting or "").split(","):
            if not entry.strip():
                continue
            event_type, sep, version = (part.strip() for part in entry.partition("="))
            if not sep or not event_type or not (version.isdigit() or version == "latest"):
                raise ValueError(
                    f"CSM_EVENT_WRITE_VERSIONS: {entry.strip()!r} is not <type>=<version|latest>"
                )
            if version == "latest":
                pins.pop(event_type, None)
            else:
                pins[event_type] = int(version)
        return cls(pins)

    def written(self, payload: EventPayload) -> tuple[int, dict[str, Any]]:
        """The version and JSON data `payload` is written as."""
        data = payload.model_dump(mode="json")
        pinned = self.pins.get(payload.EVENT_TYPE)
        if pinned is None or pinned >= payload.VERSION:
            return payload.VERSION, data
        older = payload_class(payload.EVENT_TYPE, pinned)
        return pinned, older.model_validate(data).model_dump(mode="json")


#: The pins a release ships with: AnswersSaved v2 is read by this release, but written as v1
#: until every replica runs it (then `CSM_EVENT_WRITE_VERSIONS=questionnaire.AnswersSaved=2`,
#: and the next release drops the pin).
DEFAULT_WRITE_VERSIONS: dict[str, int] = {"questionnaire.AnswersSaved": 1}

WRITE_VERSIONS = WriteVersions.from_setting(
    os.environ.get("CSM_EVENT_WRITE_VERSIONS"), DEFAULT_WRITE_VERSIONS
)
"""The process's write pins (`DEFAULT_WRITE_VERSIONS` changed by `CSM_EVENT_WRITE_VERSIONS`)."""
