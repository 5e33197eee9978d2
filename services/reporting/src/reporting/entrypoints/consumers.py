"""The reporting service's Kafka subscriptions: one idempotent consumer per source topic."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_kernel.runtime import Runtime, subscribe_handlers

from ..application.projections import HANDLERS

GROUP = "reporting"


def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
    subscribe_handlers(
        runtime,
        broker,
        Topics.REGISTRATION,
        consumer="reporting.projections",
        group_id=GROUP,
        handlers=HANDLERS,
        description="Builds the organisations read model from registration events.",
    )
