"""Creating topics, and mending one the embedded broker has broken.

The embedded broker (Tansu 0.6, memory storage) forgets its topics when it restarts, but a
producer that was connected before goes on writing to them: the broker accepts the records
into a topic it does not list (measured: acknowledged at offsets 0, 1, 2 …, and no client can
read them). When the topic is then created again (any client asking for its metadata does),
it starts at offset 0 over those records, and every write to it fails (`UnknownError`, the
broker logging `AlreadyExists … 00000000000000000000.batch`) for good. Deleting the topic
removes the stray records; created afresh, it works. `recreate_topic` does that, for the relay
to call when it finds the broker lost its history (`csm_kernel.relay`).

`ensure_topics` creates every topic of `csm_contracts.topics.Topics.definitions()` as
production has it (partitions, retention), for `make run`, the test suite and docker-compose
(Strimzi creates them from `KafkaTopic`s in Kubernetes).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from csm_contracts.topics import Topics, TopicSpec

from .kafka_security import client_options
from .observability import get_logger

log = get_logger(__name__)

#: Partitions of a topic created here that is not one of the platform's definitions.
DEFAULT_PARTITIONS = 1


def partitions_of(topic: str) -> int:
    """How many partitions `topic` is defined with (`DEFAULT_PARTITIONS` for any other)."""
    spec = Topics.definition(topic)
    return spec.partitions if spec is not None else DEFAULT_PARTITIONS


async def listed_topics(bootstrap: str) -> set[str]:
    """The topics the broker lists now (a fresh connection: no cached metadata)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def ensure_topic(bootstrap: str, topic: str, partitions: int | None = None) -> None:
    """Create `topic` unless it exists (brokers may not create topics on first use), with
    its defined partitions and configuration when it is one of the platform's topics."""
    spec = Topics.definition(topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        await _create(
            admin,
            topic,
            partitions or partitions_of(topic),
            spec.config() if spec is not None else None,
        )
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec] | None = None, *, fresh_broker: bool = False
) -> dict[str, int]:
    """Create every defined topic that does not exist yet; returns each topic's partition
    count as the broker then lists it. A topic made earlier with another count keeps it
    (partitions are never removed, and adding some would move keys between partitions),
    unless `fresh_broker`: a broker that has just started empty holds only topics a client's
    first request made in passing (the embedded one makes 4 partitions, and cannot add
    partitions), and those are made again as defined."""
    wanted = list(specs if specs is not None else Topics.definitions())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            await _create_many(admin, missing)
        described = await admin.describe_topics([spec.name for spec in wanted])
    finally:
        await admin.close()
    counts = {str(t["topic"]): len(t.get("partitions") or ()) for t in described}
    if fresh_broker:
        for spec in wanted:
            if counts.get(spec.name, spec.partitions) != spec.partitions:
                await recreate_topic(bootstrap, spec.name, spec.partitions)
                counts[spec.name] = spec.partitions
    for spec in wanted:
        if counts.get(spec.name, spec.partitions) != spec.partitions:
            log.warning(
                "topic has other partitions than defined",
                topic=spec.name,
                partitions=counts[spec.name],
                defined=spec.partitions,
            )
    if missing:
        log.info("topics created", topics=[spec.name for spec in missing])
    return counts


async def recreate_topic(bootstrap: str, topic: str, partitions: int | None = None) -> None:
    """Create, delete and create `topic` again: an empty topic that works, whatever stray
    records the broker held under its name. Only for a topic whose history is being
    published again from the event store."""
    spec = Topics.definition(topic)
    partitions = partitions or partitions_of(topic)
    config = spec.config() if spec is not None else None
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        await _create(admin, topic, partitions, config)
        await admin.delete_topics([topic])
        await _create(admin, topic, partitions, config)
    finally:
        await admin.close()
    log.warning("topic recreated empty", topic=topic, partitions=partitions)


async def _create(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, config: dict[str, str] | None = None
) -> None:
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=config)])
    except TopicAlreadyExistsError:
        return
    _log_errors(response)


async def _create_many(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    try:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=s.config()) for s in specs]
        )
    except TopicAlreadyExistsError:
        return  # made by another process meanwhile: as good
    _log_errors(response)


def _log_errors(response: object) -> None:
    for topic, code, *_ in getattr(response, "topic_errors", ()):
        if code not in (0, TopicAlreadyExistsError.errno):
            log.warning("could not create topic", topic=topic, error_code=code)
