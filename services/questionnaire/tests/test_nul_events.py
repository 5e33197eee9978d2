"""Registration's events whose text holds U+0000 (stored before the edge refused it) through
the questionnaire service's real consumer: each is handled with NUL shown as U+FFFD, and the
questionnaire it issues can be read and delegated; none is dead-lettered."""

from __future__ import annotations

import uuid
from typing import Any

from csm_contracts.cloudevents import encode
from csm_contracts.events.directory import FieldChange, ServiceRegistered, ServiceRevised
from csm_contracts.events.registration import OrganisationRegistered, OrganisationRenamed
from csm_contracts.registry import EventPayload
from csm_kernel.consumer import EventConsumer, IncomingMessage, Outcome
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent


class Kept:
    def __init__(self) -> None:
        self.letters: list[dict[str, str]] = []

    async def send(self, topic: str, key: Any, value: Any, headers: dict[str, str]) -> None:
        self.letters.append(headers)


async def consume(q: Any, event: EventPayload) -> Outcome:
    """One event through the app's own registration consumer, as Kafka would hand it over."""
    [envelope] = await InMemoryEventStore().append(
        f"s-{uuid.uuid4()}", 0, [NewEvent.from_payload(event)], AppendContext(actor="t")
    )
    key, value, headers = encode(envelope)
    dead = Kept()
    consumer = EventConsumer(
        "test",
        q.app.state.runtime.require_pool(),
        q.services.follower.handlers(),
        dead,
        "dlq",
        max_attempts=1,
        backoff=0,
    )
    outcome = await consumer.process(IncomingMessage("t", 0, 0, key, value, headers))
    assert not dead.letters, dead.letters
    return outcome


async def test_registration_events_holding_nul_are_followed(questionnaire_app) -> None:
    async with questionnaire_app("q_nul_events") as q:
        await q.schedule()
        await q.move_to(q.OPEN)
        org = OrganisationRegistered(
            organisation_id="TR1",
            code="TR1",
            name="Any\x00trust",
            kind="nhs-trust-community",
            region="london",
        )
        assert await consume(q, org) is Outcome.HANDLED
        service_id = uuid.uuid4()
        service = ServiceRegistered(
            organisation_id="TR1",
            service_id=service_id,
            cycle="2009-10",
            name="Health\x00visiting",
            description="a\x00b",
            service_type="targeted",
            client_group={"age_min": 0, "age_max": 18},
            camhs=False,
            provider_id="TR1",
            contact={"name": "A\x00Manager", "email": "manager@example.org"},
        )
        assert await consume(q, service) is Outcome.HANDLED
        renamed = OrganisationRenamed(
            organisation_id="TR1", old_name="Any\x00trust", new_name="New\x00trust"
        )
        assert await consume(q, renamed) is Outcome.HANDLED
        revised = ServiceRevised(
            organisation_id="TR1",
            service_id=service_id,
            cycle="2009-10",
            changes=[FieldChange(field="name", old="Health\x00visiting", new="School\x00nursing")],
        )
        assert await consume(q, revised) is Outcome.HANDLED

        pool = q.app.state.runtime.require_pool()
        assert await pool.fetchval("SELECT name FROM known_organisations") == "New\ufffdtrust"
        assert await pool.fetchval("SELECT name FROM known_services") == "School\ufffdnursing"
        sq = await q.one("TR1", "service")
        assert "Health\ufffdvisiting" in sq["title"]
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations",
            headers=q.lead("TR1"),
            json={"email": "manager@trust.nhs.uk", "message": "Over to you"},
        )
        assert r.status_code == 201, r.text
