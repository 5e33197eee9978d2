"""Which payload model belongs to which event type and version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    """Base of every event payload.

    A payload class says which service publishes it by deriving from that service's base
    (`RegistrationEvent`, `QuestionnaireEvent`, `NotificationEvent`, which set `SOURCE`); its
    `EVENT_TYPE` is then `SOURCE.ClassName`, derived here, and its `VERSION` is 1 unless it
    says otherwise. A later version of an event, whose class must be named differently, sets
    `EVENT_TYPE` itself.

    `organisation_id` is the Kafka key, so one organisation's events stay in order.
    """

    # A tolerant reader: a consumer still on an older model ignores fields added since, which
    # is what lets a schema grow (csm_contracts.compat) without redeploying every consumer.
    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    SOURCE: ClassVar[str]

    organisation_id: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        source = getattr(cls, "SOURCE", None)
        if source is not None and "EVENT_TYPE" not in cls.__dict__:
            cls.EVENT_TYPE = f"{source}.{cls.__name__}"

    @property
    def partition_key(self) -> str:
        """The key the event is published under."""
        return self.organisation_id


class RegistrationEvent(EventPayload):
    """Base of the events the registration service publishes (not itself an event)."""

    SOURCE: ClassVar[str] = "registration"


class QuestionnaireEvent(EventPayload):
    """Base of the events the questionnaire service publishes (not itself an event)."""

    SOURCE: ClassVar[str] = "questionnaire"


class NotificationEvent(EventPayload):
    """Base of the events the notification service publishes (not itself an event)."""

    SOURCE: ClassVar[str] = "notification"


P = TypeVar("P", bound=type[EventPayload])


class UnknownEventType(LookupError):
    """No payload model is registered for this (type, version)."""


class EventRegistry:
    """Maps `(type, version)` to the payload model that reads it."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], type[EventPayload]] = {}

    def register(self, cls: P) -> P:
        """Class decorator: register a payload model under its EVENT_TYPE and VERSION."""
        if cls.EVENT_TYPE.split(".", 1)[0] != cls.SOURCE:
            raise ValueError(f"{cls.__name__}: {cls.EVENT_TYPE} is not named after {cls.SOURCE}")
        key = (cls.EVENT_TYPE, cls.VERSION)
        if key in self._by_key and self._by_key[key] is not cls:
            raise ValueError(f"{key} registered twice")
        self._by_key[key] = cls
        return cls

    def get(self, event_type: str, version: int) -> type[EventPayload]:
        """The payload model for an event type and version, or UnknownEventType."""
        try:
            return self._by_key[(event_type, version)]
        except KeyError:
            raise UnknownEventType(f"no schema for {event_type} v{version}") from None

    def latest_version(self, event_type: str) -> int:
        """The highest registered version of an event type."""
        versions = [v for (t, v) in self._by_key if t == event_type]
        if not versions:
            raise UnknownEventType(f"no schema for {event_type}")
        return max(versions)

    def __iter__(self) -> Iterator[type[EventPayload]]:
        return iter(sorted(self._by_key.values(), key=lambda c: (c.EVENT_TYPE, c.VERSION)))


REGISTRY = EventRegistry()
"""The registry every contract payload registers itself in."""


def payload_class(event_type: str, version: int) -> type[EventPayload]:
    """Shortcut for `REGISTRY.get` that makes sure every event module is imported."""
    from . import events  # noqa: F401  (registers the payload models)

    return REGISTRY.get(event_type, version)
