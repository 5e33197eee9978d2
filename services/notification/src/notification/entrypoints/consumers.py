"""The notification service's Kafka subscriptions, one consumer group per topic (two
subscriptions in one group would rebalance each other every time either joins).

- `Topics.REGISTRATION`: organisations, mapping leads and new accounts (set-up links);
- `Topics.QUESTIONNAIRE`: delegation, returns, sign-off and reopening (emails), and the cycles'
  timetables, extensions and sign-offs (the reminders' state).

Every handler runs in the transaction that records the message as processed, and only records
intents: sending is the sender's, so a slow or absent SMTP server never holds a consumer up.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_kernel.runtime import Runtime, subscribe_handlers

from ..application import handlers, reminders

#: Consumer groups (and so dead-letter topics: `csm.dlq.<group>`), one per topic.
REGISTRATION_GROUP = "notification.registration"
QUESTIONNAIRE_GROUP = "notification.questionnaire"


def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
    subscribe_handlers(
        runtime,
        broker,
        Topics.REGISTRATION,
        consumer="notification.registration",
        group_id=REGISTRATION_GROUP,
        handlers=handlers.REGISTRATION,
        description="Who leads which organisation; set-up links for new accounts.",
    )
    subscribe_handlers(
        runtime,
        broker,
        Topics.QUESTIONNAIRE,
        consumer="notification.questionnaire",
        group_id=QUESTIONNAIRE_GROUP,
        # The reminders' state first: a refused email rolls both back, for a replay to redo.
        handlers=handlers.combined(reminders.HANDLERS, handlers.QUESTIONNAIRE),
        description="Emails about delegation and sign-off; the state deadline reminders need.",
    )
