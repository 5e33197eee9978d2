"""The reporting service's Kafka subscriptions: one idempotent consumer per source topic."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_kernel.consumer import EventConsumer
from csm_kernel.kafka import BrokerDeadLetters, dead_letter_topic, subscribe
from csm_kernel.runtime import Runtime

from ..application.projections import HANDLERS

GROUP = "reporting"


def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
    consumer = EventConsumer(
        "reporting.projections",
        runtime.require_pool(),
        HANDLERS,
        BrokerDeadLetters(broker),
        dead_letter_topic(GROUP),
        max_attempts=runtime.settings.consumer_max_attempts,
    )
    subscribe(
        broker,
        Topics.REGISTRATION,
        consumer,
        group_id=GROUP,
        session_timeout_ms=runtime.settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=runtime.settings.kafka_heartbeat_interval_ms,
        description="Builds the organisations read model from registration events.",
    )
