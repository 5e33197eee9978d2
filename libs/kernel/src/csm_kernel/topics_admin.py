"""Creating topics, and mending one the embedded broker has broken.

The embedded broker (Tansu 0.6, memory storage) forgets its topics when it restarts, but a
producer that was connected before goes on writing to them: the broker accepts the records
into a topic it does not list (measured: acknowledged at offsets 0, 1, 2 …, and no client can
read them). When the topic is then created again (any client asking for its metadata does),
it starts at offset 0 over those records, and every write to it fails (`UnknownError`, the
broker logging `AlreadyExists … 00000000000000000000.batch`) for good. Deleting the topic
removes the stray records; created afresh, it works. `recreate_topic` does that, for the relay
to call when it finds the broker lost its history (`csm_kernel.relay`).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .kafka_security import client_options
from .observability import get_logger

log = get_logger(__name__)

#: Partitions of a topic created here when nothing says how many it had.
DEFAULT_PARTITIONS = 1


async def listed_topics(bootstrap: str) -> set[str]:
    """The topics the broker lists now (a fresh connection: no cached metadata)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def ensure_topic(bootstrap: str, topic: str, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create `topic` unless it exists (brokers may not create topics on first use)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        await _create(admin, topic, partitions)
    finally:
        await admin.close()


async def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create, delete and create `topic` again: an empty topic that works, whatever stray
    records the broker held under its name. Only for a topic whose history is being
    published again from the event store."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        await _create(admin, topic, partitions)
        await admin.delete_topics([topic])
        await _create(admin, topic, partitions)
    finally:
        await admin.close()
    log.warning("topic recreated empty", topic=topic, partitions=partitions)


async def _create(admin: AIOKafkaAdminClient, topic: str, partitions: int) -> None:
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        return
    for _, code, *_ in getattr(response, "topic_errors", ()):
        if code not in (0, TopicAlreadyExistsError.errno):
            log.warning("could not create topic", topic=topic, error_code=code)
