"""Every topic name, in one place. Event topics keep everything (no deletion by age)."""

from __future__ import annotations

from typing import ClassVar


class Topics:
    """Kafka topic names used by CSM services.

    One topic per publishing service keeps each organisation's events from that service in
    order (messages are keyed by organisation id). Dead letters go to one topic per consumer
    group so a poison message names the consumer that could not handle it.
    """

    REGISTRATION = "csm.registration.events"
    QUESTIONNAIRE = "csm.questionnaire.events"
    NOTIFICATION = "csm.notification.events"
    #: The public topic regulators subscribe to: sign-offs and their withdrawals only.
    PUBLIC_SIGNOFFS = "csm.public.signoffs"

    #: Consumers that find events missing ask the producing service to publish a range again
    #: (`csm_contracts.control.RepublishRequest`); every relay listens, the leader answers.
    REPUBLISH_REQUESTS = "csm.control.republish-requests"

    #: Event types published to PUBLIC_SIGNOFFS as well as to their source's topic.
    PUBLIC_EVENT_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"questionnaire.CycleSignedOff", "questionnaire.SignOffWithdrawn"}
    )

    @staticmethod
    def dead_letter(consumer_group: str) -> str:
        """The dead-letter topic for one consumer group."""
        return f"csm.dlq.{consumer_group}"

    @classmethod
    def for_source(cls, source: str) -> str:
        """The event topic of a publishing service (`registration`, `questionnaire`, ...)."""
        return {
            "registration": cls.REGISTRATION,
            "questionnaire": cls.QUESTIONNAIRE,
            "notification": cls.NOTIFICATION,
        }[source]

    @classmethod
    def source_of(cls, topic: str) -> str | None:
        """The service whose every event a topic carries (None for the public and other
        topics, which carry only some)."""
        return {
            cls.REGISTRATION: "registration",
            cls.QUESTIONNAIRE: "questionnaire",
            cls.NOTIFICATION: "notification",
        }.get(topic)

    @classmethod
    def for_event(cls, event_type: str) -> list[str]:
        """Every topic an event type is published to: its source's topic, then the public one."""
        topics = [cls.for_source(event_type.split(".", 1)[0])]
        if event_type in cls.PUBLIC_EVENT_TYPES:
            topics.append(cls.PUBLIC_SIGNOFFS)
        return topics

    @classmethod
    def event_topics(cls) -> tuple[str, ...]:
        """Every event topic (dead-letter topics aside), in a fixed order."""
        return (cls.REGISTRATION, cls.QUESTIONNAIRE, cls.NOTIFICATION, cls.PUBLIC_SIGNOFFS)
