"""Every topic, in one place: names, and how production has them (`Topics.definitions`).

Event topics keep everything (no deletion by age). `make run`, the test suite, docker-compose
and the Strimzi `KafkaTopic`s all create topics from `Topics.definitions()`; nothing relies on
a broker creating a topic on first use (a relay that publishes while its topic is being
auto-created meets `NotLeaderForPartitionError` and publishes late and twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

#: Partitions of every event topic and the public topic: the national deployment's count
#: (three replicas of each consumer, with room to grow to twelve). Messages are keyed by
#: organisation id, so one organisation's events stay in order whatever the count.
EVENT_PARTITIONS = 12
#: Partitions of the control and dead-letter topics (little traffic, order per key only).
SMALL_TOPIC_PARTITIONS = 3
#: Retention meaning "keep everything".
KEEP_FOREVER = -1
_WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic as every environment creates it."""

    name: str
    partitions: int
    #: How long records are kept, in milliseconds (`KEEP_FOREVER`: no deletion by age).
    retention_ms: int
    #: What the topic carries and who reads it (shown by `csm-infra topics`).
    purpose: str

    def config(self) -> dict[str, str]:
        """The Kafka topic configuration (`retention.ms`, `retention.bytes`, `cleanup.policy`)."""
        config = {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}
        if self.retention_ms == KEEP_FOREVER:
            config["retention.bytes"] = str(KEEP_FOREVER)
        return config


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

    #: Every consumer group of every service; each has its dead-letter topic.
    CONSUMER_GROUPS: ClassVar[tuple[str, ...]] = (
        "registration",
        "questionnaire",
        "notification.registration",
        "notification.questionnaire",
        "reporting",
    )

    @classmethod
    def definitions(cls) -> tuple[TopicSpec, ...]:
        """Every topic the platform uses, as production has it."""
        events = [
            TopicSpec(
                cls.for_source(source),
                EVENT_PARTITIONS,
                KEEP_FOREVER,
                f"every event of the {source} service",
            )
            for source in ("registration", "questionnaire", "notification")
        ]
        return (
            *events,
            TopicSpec(
                cls.PUBLIC_SIGNOFFS,
                EVENT_PARTITIONS,
                KEEP_FOREVER,
                "sign-offs and their withdrawals, for regulators",
            ),
            TopicSpec(
                cls.REPUBLISH_REQUESTS,
                SMALL_TOPIC_PARTITIONS,
                _WEEK_MS,
                "consumers asking a relay to publish a range again (worth nothing after a week)",
            ),
            *(
                TopicSpec(
                    cls.dead_letter(group),
                    SMALL_TOPIC_PARTITIONS,
                    KEEP_FOREVER,
                    f"dead letters of the {group} consumer group (also kept in its database)",
                )
                for group in cls.CONSUMER_GROUPS
            ),
        )

    @classmethod
    def definition(cls, name: str) -> TopicSpec | None:
        """The definition of topic `name`, if it is one of the platform's."""
        return next((spec for spec in cls.definitions() if spec.name == name), None)

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
