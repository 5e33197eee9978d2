"""The notification service for tests, on the suite's real servers (PostgreSQL, the broker and
the SMTP sink of the root conftest's `infra`):

- `notification_app`: the whole app running (its own database, consumers, relay, sender and
  reminder loops) on a clock the test holds, with a client;
- `mailer`: just the sender over a freshly migrated database, for tests that drive each batch.

Tests reach the helpers through the fixtures (`mailer.reopened(...)`, `n.eventually(...)`):
a conftest is not imported by test modules. The SMTP sink's mailbox is shared by the whole
session: tests count what it received by the `X-CSM-Notification` header of the notifications
they made (causes are unique per test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.clock import FixedClock
from csm_kernel.database import migrate
from csm_kernel.links import LinkTokens, ensure_link_key
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore
from notification.adapters.intents_pg import record
from notification.application.sender import Sender
from notification.bootstrap import sender as wired_sender
from notification.domain.notification import Intent, Kind

SHUTDOWN_SECONDS = 30
#: A day in data entry (2009-10).
AT = datetime(2009, 11, 10, 9, 0, tzinfo=UTC)
MAIL_FROM = "Children's Services Mapping <csm@csm.example>"


def reopened(
    recipient: str,
    *,
    cause: str | None = None,
    organisation_id: str = "5A4",
    **context: Any,
) -> Intent:
    """A `return-reopened` email (a template that needs no link key): one per cause."""
    return Intent(
        kind=Kind.RETURN_REOPENED,
        organisation_id=organisation_id,
        recipient=recipient,
        cause=cause or str(uuid.uuid4()),
        recipient_name="Ann Example",
        caused_by_type="questionnaire.ReturnReopened",
        context={
            "name": "Ann Example",
            "organisation_name": f"Organisation {organisation_id}",
            "cycle": "2009-10",
            "reason": "the workforce figures need correcting",
            **context,
        },
    )


async def notifications(pool: asyncpg.Pool, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM notifications WHERE id = ANY($1::text[])", list(ids))
    return {r["id"]: {**dict(r), "context": json.loads(r["context"])} for r in rows}


async def outcome_events(pool: asyncpg.Pool, ids: Iterable[str]) -> list[asyncpg.Record]:
    """The outcome events of these notifications, in store order."""
    return await pool.fetch(
        "SELECT stream_id, stream_version, type, data, actor, causation_id, correlation_id "
        "FROM events WHERE stream_id = ANY($1::text[]) ORDER BY position",
        [f"notification-{i}" for i in ids],
    )


async def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> None:
    """Wait until `await check()` is truthy."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout} s")
        await asyncio.sleep(every)


@dataclass
class Mailer:
    """A sender over its own database, the SMTP sink and a fixed clock."""

    pool: asyncpg.Pool
    store: PostgresEventStore
    settings: ServiceSettings
    clock: FixedClock
    tokens: LinkTokens
    infra: Any

    AT: ClassVar[datetime] = AT
    reopened = staticmethod(reopened)
    eventually = staticmethod(eventually)

    def sender(self, **options: Any) -> Sender:
        return wired_sender(
            self.pool, self.store, self.settings, self.clock, self.tokens, **options
        )

    async def record(self, intents: list[Intent]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            return await record(conn, intents, self.clock.now())

    async def rows(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return await notifications(self.pool, ids)

    async def events(self, ids: Iterable[str]) -> list[asyncpg.Record]:
        return await outcome_events(self.pool, ids)

    def delivered(self, ids: Iterable[str]) -> dict[str, int]:
        return dict(self.infra.delivered(set(ids)))


@pytest.fixture(scope="session")
def notification_link_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_link_key(tmp_path_factory.mktemp("notification-links") / "links.key")


def smtp_settings(infra: Any, **more: Any) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": infra.smtp_port,
        "mail_from": MAIL_FROM,
        "portal_url": "https://csm.example",
        **more,
    }


@pytest.fixture
async def mailer(infra: Any, pg_pool: asyncpg.Pool) -> AsyncIterator[Mailer]:
    await migrate(pg_pool, "notification", resources.files("notification.adapters").joinpath("sql"))
    infra.ensure_smtp_running()
    yield Mailer(
        pg_pool,
        PostgresEventStore(pg_pool),
        ServiceSettings(**smtp_settings(infra)),
        FixedClock(AT),
        LinkTokens(b"t" * 32),
        infra,
    )
    # A test that stopped the sink must not leave it stopped for the rest of the session.
    infra.ensure_smtp_running()


@dataclass
class RunningNotification:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    clock: FixedClock
    auth: Any
    infra: Any

    AT: ClassVar[datetime] = AT
    reopened = staticmethod(reopened)
    eventually = staticmethod(eventually)

    @property
    def services(self) -> Any:
        return self.app.state.services

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.runtime.require_pool()
        return pool

    def as_(self, *roles: str, org: str | None = None) -> dict[str, str]:
        return dict(self.auth.headers(*roles, org=org))

    @property
    def admin(self) -> dict[str, str]:
        return self.as_("national-admin")

    @property
    def auditor(self) -> dict[str, str]:
        return self.as_("auditor")

    async def record(self, intents: list[Intent]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            count = await record(conn, intents, self.clock.now())
        self.services.sender.wake()
        return count

    async def settled(self, ids: Iterable[str], timeout: float = 30.0) -> dict[str, dict]:
        """Wait until the running sender has dealt with every one of these notifications as
        far as the clock allows (none is still due); their rows."""
        wanted = list(ids)

        async def done() -> bool:
            return not await self.pool.fetchval(
                "SELECT count(*) FROM notifications WHERE id = ANY($1::text[]) "
                "AND status = 'pending' AND next_attempt_at <= $2",
                wanted,
                self.clock.now(),
            )

        await eventually(done, timeout)
        return await notifications(self.pool, wanted)


NotificationApp = Callable[..., contextlib.AbstractAsyncContextManager[RunningNotification]]


@pytest.fixture(scope="session")
def notification_app(infra: Any, auth_keys: Any, notification_link_key: Path) -> NotificationApp:
    """`async with notification_app("prefix", at=...) as n:` a fresh database, the app started
    on a `FixedClock` (`n.clock`, at `AT` unless told), and a client."""
    from notification.bootstrap import build_app

    @contextlib.asynccontextmanager
    async def start(
        prefix: str = "notif", at: datetime | None = None, **settings: Any
    ) -> AsyncIterator[RunningNotification]:
        infra.ensure_smtp_running()
        dsn = await infra.create_database(prefix)
        clock = FixedClock(at or AT)
        app = build_app(
            ServiceSettings(
                **smtp_settings(
                    infra,
                    database_url=dsn,
                    kafka_bootstrap=infra.bootstrap,
                    auth_public_key_file=auth_keys.public_file,
                    link_key_file=notification_link_key,
                    kafka_session_timeout_ms=6000,
                    kafka_heartbeat_interval_ms=500,
                    **settings,
                )
            ),
            clock=clock,
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
            ) as client:
                yield RunningNotification(app, client, dsn, clock, auth_keys, infra)
        finally:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await lifespan.__aexit__(None, None, None)

    return start
