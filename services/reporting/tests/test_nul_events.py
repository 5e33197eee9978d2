"""Events whose text holds U+0000 (stored before the edge refused it) or a number beyond 64 bits,
through reporting's real consumer (one batch) into the journal, whose `jsonb` cannot hold
`\\u0000`: every event is journaled, with NUL shown as U+FFFD, and the projections read it; none
is dead-lettered and the batch is not split."""

from __future__ import annotations

from typing import Any

from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.questionnaire import ResponseSubmitted
from csm_kernel.consumer import EventConsumer, IncomingMessage, Outcome
from reporting.bootstrap import bootstrap


class Kept:
    def __init__(self) -> None:
        self.letters: list[dict[str, str]] = []

    async def send(self, topic: str, key: Any, value: Any, headers: dict[str, str]) -> None:
        self.letters.append(headers)


async def test_events_holding_nul_or_huge_numbers_are_journaled(reporting_db) -> None:
    h = reporting_db.history
    h.add(
        OrganisationRegistered(
            organisation_id="5A4", code="5A4", name="Any\x00town PCT", kind="pct", region="london"
        )
    )
    h.add(
        ResponseSubmitted(
            organisation_id="5A4",
            cycle="2009-10",
            questionnaire_id="q1",
            definition="service@1",
            submitted_by="user:\x00lead",
            answers={"client_groups_other": "a\x00b", "caseload_total": 10**30, "note\x00": 1},
            subject_kind="service",
            subject_id="s1",
        )
    )
    h.add(
        OrganisationRegistered(
            organisation_id="5B1", code="5B1", name="Plain PCT", kind="pct", region="london"
        )
    )
    messages = [IncomingMessage("t", 0, i, *encode(e)) for i, e in enumerate(h.take())]
    dead = Kept()
    consumer = EventConsumer(
        "reporting.journal",
        reporting_db.pool,
        {},
        dead,
        "dlq",
        max_attempts=1,
        backoff=0,
        batch_handler=bootstrap(reporting_db.pool).journalling.record,
    )
    assert await consumer.process_batch(messages) == [Outcome.HANDLED] * 3
    assert not dead.letters
    rows = await reporting_db.pool.fetch("SELECT type FROM journal ORDER BY seq")
    assert [r["type"] for r in rows] == [
        "registration.OrganisationRegistered",
        "questionnaire.ResponseSubmitted",
        "registration.OrganisationRegistered",
    ]
    answers = await reporting_db.pool.fetchval(
        "SELECT data->'answers' FROM journal WHERE type = 'questionnaire.ResponseSubmitted'"
    )
    assert "a\ufffdb" in answers and "1000000000000000000000000000000" in answers
    assert "note\ufffd" in answers
    await reporting_db.projector.catch_up_all()
    name = await reporting_db.pool.fetchval(
        "SELECT name FROM rm_organisations.organisations WHERE organisation_id = '5A4'"
    )
    assert name == "Any\ufffdtown PCT"
