"""The notification service's Kafka subscriptions, one consumer group per topic (two
subscriptions in one group would rebalance each other every time either joins).

- `Topics.REGISTRATION`: organisations, mapping leads and new accounts (set-up links);
- `Topics.QUESTIONNAIRE`: delegation, returns, sign-off and reopening (emails), and the cycles'
  timetables, extensions and sign-offs (the reminders' state).

Every handler runs in the transaction that records the message as processed, and only records
intents: sending is the sender's, so a slow or absent SMTP server never holds a consumer up.
Handlers see an event's text as PostgreSQL can hold it (`storable_handlers`: NUL replaced by
U+FFFD), so an event that holds NUL is still an email, not a dead letter.
"""

from __future__ import annotations

from collections.abc import Callable

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_kernel.consumer import Handler
from csm_kernel.runtime import Runtime, subscribe_handlers
from csm_kernel.text import storable_handlers

from ..application.handlers import ConsumerTables

#: Consumer groups (and so dead-letter topics: `csm.dlq.<group>`), one per topic.
REGISTRATION_GROUP = "notification.registration"
QUESTIONNAIRE_GROUP = "notification.questionnaire"
#: Events applied in one transaction at most: a national import (thousands of organisations,
#: then thousands of questionnaires issued) would otherwise hold a new account's set-up email
#: behind minutes of one-commit-per-event work.
BATCH = 200


def registration_handlers(tables: ConsumerTables) -> dict[str, Handler]:
    """What the `Topics.REGISTRATION` consumer applies."""
    return storable_handlers(tables.registration.handlers())


def questionnaire_handlers(tables: ConsumerTables) -> dict[str, Handler]:
    """What the `Topics.QUESTIONNAIRE` consumer applies: the reminders' state first, so a
    refused email rolls both back, for a replay to redo."""
    return storable_handlers(tables.questionnaire.handlers())


def subscriptions(tables: ConsumerTables) -> Callable[[Runtime, KafkaBroker], None]:
    """The service's subscriptions, applying `tables`."""

    def subscribe(runtime: Runtime, broker: KafkaBroker) -> None:
        subscribe_handlers(
            runtime,
            broker,
            Topics.REGISTRATION,
            consumer="notification.registration",
            group_id=REGISTRATION_GROUP,
            handlers=registration_handlers(tables),
            description="Who leads which organisation; set-up links for new accounts.",
            batch=BATCH,
        )
        subscribe_handlers(
            runtime,
            broker,
            Topics.QUESTIONNAIRE,
            consumer="notification.questionnaire",
            group_id=QUESTIONNAIRE_GROUP,
            handlers=questionnaire_handlers(tables),
            description="Emails about delegation and sign-off; the state deadline reminders need.",
            batch=BATCH,
        )

    return subscribe
