"""The questionnaire app running for real (its own PostgreSQL database, the broker, the suite's
keys) on a clock the test moves, and helpers to put a cycle and its organisations in place."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI

from csm_contracts.events.directory import ServiceRegistered
from csm_contracts.events.registration import OrganisationRegistered
from csm_kernel.clock import FixedClock
from csm_kernel.links import LinkTokens, ensure_link_key
from questionnaire.bootstrap import QuestionnaireSettings, build_app

SHUTDOWN_SECONDS = 30

#: The 2009-10 timetable of the briefing.
TIMETABLE = {
    "sandbox_opens": "2009-10-01T00:00:00+00:00",
    "data_entry_opens": "2009-11-02T00:00:00+00:00",
    "summary_reports": "2010-01-11T00:00:00+00:00",
    "data_entry_closes": "2010-02-28T23:59:59+00:00",
    "publication": "2010-04-06T00:00:00+00:00",
}
OPEN = datetime(2009, 11, 10, 9, 0, tzinfo=UTC)
AFTER_CLOSE = datetime(2010, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class RunningQuestionnaire:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    clock: FixedClock
    links: LinkTokens
    auth: Any
    organisations: dict[str, str] = field(default_factory=dict)

    #: A day in data entry, and a day after the close (2009-10).
    OPEN: ClassVar[datetime] = OPEN
    AFTER_CLOSE: ClassVar[datetime] = AFTER_CLOSE
    TIMETABLE: ClassVar[dict[str, str]] = TIMETABLE
    SUMMARY: ClassVar[datetime] = datetime(2010, 1, 20, 9, 0, tzinfo=UTC)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def as_(self, *roles: str, org: str | None = None, group: str | None = None) -> dict[str, str]:
        return self.auth.headers(*roles, org=org, group=group)

    @property
    def admin(self) -> dict[str, str]:
        return self.as_("national-admin")

    def lead(self, org: str) -> dict[str, str]:
        return self.as_("mapping-lead", org=org)

    async def registration_event(self, handler: str, event: Any) -> None:
        """Deliver one registration event as the consumer would (its own transaction)."""
        envelope = SimpleNamespace(
            correlation_id=str(uuid.uuid4()), event_id=uuid.uuid4(), occurred_at=self.clock.now()
        )
        pool = self.app.state.runtime.require_pool()
        async with pool.acquire() as conn, conn.transaction():
            await getattr(self.services.follower, handler)(conn, envelope, event)

    async def register(self, code: str, kind: str, name: str | None = None) -> None:
        await self.registration_event(
            "organisation_registered",
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                name=name or f"Organisation {code}",
                kind=kind,
                region="london",
                partnership_areas=[code] if kind == "local-authority" else [],
            ),
        )

    async def map_service(
        self, org: str, cycle: str = "2009-10", *, camhs: bool = False, group: str | None = None
    ) -> str:
        service_id = uuid.uuid4()
        await self.registration_event(
            "service_mapped",
            ServiceRegistered(
                organisation_id=org,
                service_id=service_id,
                cycle=cycle,
                name=f"Service {str(service_id)[:6]}",
                description="",
                service_type="targeted",
                client_group={"age_min": 0, "age_max": 18},
                camhs=camhs,
                camhs_tier=2 if camhs else None,
                group_id=group,
                provider_id=org,
                contact={"name": "A Manager", "email": "manager@example.org"},
            ),
        )
        return str(service_id)

    async def schedule(self, cycle: str = "2009-10", **timetable: str) -> dict[str, Any]:
        r = await self.client.post(
            "/cycles",
            json={"cycle": cycle, "timetable": {**TIMETABLE, **timetable}},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def move_to(self, at: datetime) -> None:
        self.clock.set(at)
        await self.services.cycles.tick()

    async def owed(self, org: str, cycle: str = "2009-10") -> list[dict[str, Any]]:
        r = await self.client.get(
            "/questionnaires", params={"cycle": cycle}, headers=self.lead(org)
        )
        assert r.status_code == 200, r.text
        return list(r.json())

    async def complete(self, org: str, questionnaire: dict[str, Any], score: int = 2) -> Any:
        """Answer every required question and submit; the submitted view."""
        headers = self.lead(org)
        r = await self.client.patch(
            f"/questionnaires/{questionnaire['id']}/answers",
            headers=headers,
            json={
                "version": questionnaire["version"],
                "answers": complete_answers(questionnaire["definition"], score),
            },
        )
        assert r.status_code == 200, r.text
        r = await self.client.post(f"/questionnaires/{questionnaire['id']}/submit", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def one(self, org: str, kind: str) -> dict[str, Any]:
        [item] = [q for q in await self.owed(org) if q["kind"] == kind]
        r = await self.client.get(f"/questionnaires/{item['id']}", headers=self.lead(org))
        assert r.status_code == 200, r.text
        return dict(r.json())


def complete_answers(ref: str, score: int = 2, **given: Any) -> dict[str, Any]:
    """Answers to every required question a definition shows (after `given`), valid for
    submission: the first option, zero, a date, text, `score` on scales."""
    from questionnaire.application.catalogue import shipped_catalogue
    from questionnaire.domain import answers as rules

    definition = shipped_catalogue().get(ref)
    answers = dict(given)
    for _ in range(10):
        stored, _ = rules.apply(definition, {}, answers)
        missing = rules.missing(definition, stored)
        if not missing:
            assert not rules.rule_problems(definition, stored)
            return answers
        for problem in missing:
            question = definition.questions[problem.question]
            answers[question.id] = _an_answer(question, score)
    raise AssertionError("could not complete the answers")


def _an_answer(question: Any, score: int) -> Any:
    t = question.type.value
    if t == "single_choice":
        return question.options[0].value
    if t == "multiple_choice":
        return [question.options[0].value]
    if t == "yes_no":
        return False
    if t in ("integer", "decimal", "money", "percentage"):
        return question.min if question.min is not None else 0
    if t == "date":
        return "2009-04-01"
    if t == "text":
        return "Answered in the test"
    return {"score": min(score, max(question.levels)), "evidence": "Minutes of the board"}


QuestionnaireApp = Callable[..., contextlib.AbstractAsyncContextManager[RunningQuestionnaire]]


@pytest.fixture(scope="session")
def link_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_link_key(tmp_path_factory.mktemp("delegation") / "links.key")


@pytest.fixture(scope="session")
def questionnaire_app(
    infra: Any, auth_keys: Any, link_key: Path, tmp_path_factory: pytest.TempPathFactory
) -> QuestionnaireApp:
    """`async with questionnaire_app("prefix") as q:` a fresh database, the app started on a
    clock set before the cycle (`q.clock`), and a client."""

    @contextlib.asynccontextmanager
    async def start(
        prefix: str, at: datetime | None = None, **settings: Any
    ) -> AsyncIterator[RunningQuestionnaire]:
        dsn = await infra.create_database(prefix)
        clock = FixedClock(at or datetime(2009, 9, 1, tzinfo=UTC))
        app = build_app(
            QuestionnaireSettings(
                **{
                    "database_url": dsn,
                    "kafka_bootstrap": infra.bootstrap,
                    "auth_public_key_file": auth_keys.public_file,
                    "link_key_file": link_key,
                    # Each app its own key ring (the public topic's signatures).
                    "signing_key_dir": tmp_path_factory.mktemp("signing-keys"),
                    "kafka_session_timeout_ms": 6000,
                    "kafka_heartbeat_interval_ms": 500,
                    # Tests move the clock and tick themselves.
                    "cycle_tick_seconds": 3600,
                    **settings,
                }
            ),
            clock=clock,
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
            ) as client:
                yield RunningQuestionnaire(
                    app, client, dsn, clock, LinkTokens.from_file(link_key), auth_keys
                )
        finally:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await lifespan.__aexit__(None, None, None)

    return start
