"""The questionnaire service on the real broker: registration's events (redelivered too) make
organisations owe their questionnaires once; a sign-off, and its withdrawal when the return is
reopened, reach the regulators' public topic."""

import random
import string
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.registration import OrganisationRenamed
from csm_kernel.signing import verify_detached
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from kafka_helpers import eventually, headers_of, read_topic


def a_code() -> str:
    return "Q" + "".join(random.choices(string.ascii_uppercase, k=4))


async def registered_then_renamed(code: str) -> list[Any]:
    store = InMemoryEventStore()
    events = [
        OrganisationRegistered(
            organisation_id=code,
            code=code,
            name=f"Borough {code}",
            kind="local-authority",
            region="london",
            partnership_areas=[code],
        ),
        OrganisationRenamed(
            organisation_id=code, old_name=f"Borough {code}", new_name=f"Royal Borough {code}"
        ),
    ]
    stored = await store.append(
        f"organisation-{code}",
        0,
        [NewEvent.from_payload(e) for e in events],
        AppendContext(actor="t"),
    )
    return [encode(env) for env in stored]


async def test_registration_events_over_kafka_issue_once_and_sign_off_goes_public(
    questionnaire_app, infra
) -> None:
    code = a_code()
    async with questionnaire_app("q_kafka") as q:
        await q.schedule()
        await q.move_to(q.OPEN)
        registration, rename = await registered_then_renamed(code)
        producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
        await producer.start()
        try:
            # The registration twice (a redelivery), then a rename under the same key: once the
            # rename is applied, the duplicate before it has been handled too.
            for key, value, headers in (registration, registration, rename):
                await producer.send_and_wait(Topics.REGISTRATION, value, key=key, headers=headers)
        finally:
            await producer.stop()

        async def issued() -> bool:
            r = await q.client.get(
                "/questionnaires", params={"cycle": "2009-10"}, headers=q.lead(code)
            )
            return len(r.json()) == 2

        await eventually(issued, timeout=60, what="questionnaires issued from Kafka")
        conn = await asyncpg.connect(q.dsn)
        try:

            async def renamed() -> bool:
                name = await conn.fetchval(
                    "SELECT name FROM known_organisations WHERE code = $1", code
                )
                return bool(name == f"Royal Borough {code}")

            await eventually(renamed, timeout=30, what="the rename after the redelivery")
            count = await conn.fetchval(
                "SELECT count(*) FROM events WHERE type = 'questionnaire.QuestionnaireIssued'"
            )
        finally:
            await conn.close()
        assert count == 2

        for item in await q.owed(code):
            view = (
                await q.client.get(f"/questionnaires/{item['id']}", headers=q.lead(code))
            ).json()
            await q.complete(code, view)
        r = await q.client.post(
            f"/cycles/2009-10/returns/{code}/sign-off", headers=q.lead(code), json={"confirm": True}
        )
        assert r.status_code == 200, r.text

        records = await read_topic(infra.bootstrap, Topics.PUBLIC_SIGNOFFS, 1, timeout=60)
        ours = [r for r in records if r.key == code.encode()]
        assert ours, "the sign-off did not reach the public topic"
        assert headers_of(ours[-1])["ce_type"] == "questionnaire.CycleSignedOff"
        # Signed over the exact value, by a key the service publishes.
        jwks = (await q.client.get("/.well-known/jwks.json")).json()
        assert verify_detached(headers_of(ours[-1])["ce_signature"], ours[-1].value, jwks)

        # Reopening the return withdraws the sign-off, on the public topic too, after it.
        r = await q.client.post(
            f"/cycles/2009-10/returns/{code}/reopen", headers=q.admin, json={"reason": "queried"}
        )
        assert r.status_code == 200, r.text
        public: list[str] = []

        async def withdrawn() -> bool:
            records = await read_topic(infra.bootstrap, Topics.PUBLIC_SIGNOFFS, 1, timeout=5)
            public[:] = [headers_of(r)["ce_type"] for r in records if r.key == code.encode()]
            return "questionnaire.SignOffWithdrawn" in public

        await eventually(withdrawn, timeout=60, what="the withdrawal on the public topic")
        assert public.index("questionnaire.CycleSignedOff") < public.index(
            "questionnaire.SignOffWithdrawn"
        )
