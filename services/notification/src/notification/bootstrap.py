"""Wires the notification service: consumers that record what to send, a sender that sends it
exactly once, the reminder schedule, bulletins and the delivery log. The only place that builds
the PostgreSQL and SMTP adapters and hands them to the application."""

from __future__ import annotations

import asyncio
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg
from fastapi import FastAPI

from csm_kernel.clock import Clock, SystemClock
from csm_kernel.handlers import HandlerTable
from csm_kernel.links import LinkTokens
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore

from .adapters.bulletins_pg import PostgresBulletins
from .adapters.deliveries_pg import PostgresDeliveryLog
from .adapters.directory_pg import PostgresDirectory
from .adapters.intents_pg import PostgresIntents
from .adapters.metrics_prom import PrometheusNotificationMetrics
from .adapters.queue_pg import PostgresQueue
from .adapters.reminders_pg import PostgresReminders, PostgresReminderState
from .adapters.smtp import SmtpConnection
from .application.bulletins import Bulletins
from .application.deliveries import Deliveries
from .application.handlers import ConsumerTables, EmailHandlers
from .application.reminders import ReminderEvents, Reminders
from .application.sender import Sender
from .application.service import NotificationService
from .entrypoints.consumers import subscriptions
from .entrypoints.http import ROUTERS


class NotificationSettings(ServiceSettings):
    #: How often due deadline reminders are looked for.
    reminder_interval_seconds: float = 60.0
    #: How often scheduled bulletins that are due are looked for (they go at most this late).
    bulletin_interval_seconds: float = 30.0


def notification_migrations() -> Traversable:
    return resources.files("notification.adapters").joinpath("sql")


def email_handlers() -> EmailHandlers:
    """The handlers that record emails and keep who leads what (on the consumer's
    connection, so they need no pool)."""
    return EmailHandlers(PostgresDirectory(), PostgresIntents())


def reminder_handlers() -> HandlerTable:
    """The handlers that keep what the reminders know (on the consumer's connection)."""
    return ReminderEvents(PostgresReminderState()).table()


def consumer_tables() -> ConsumerTables:
    """What each consumer applies."""
    emails = email_handlers()
    return ConsumerTables(
        registration=emails.registration(),
        questionnaire=HandlerTable.combine(reminder_handlers(), emails.questionnaire()),
    )


def sender(
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    settings: ServiceSettings,
    clock: Clock,
    tokens: LinkTokens | None,
    *,
    connections: int = 4,
    **options: Any,
) -> Sender:
    """The sender over `pool`, sending over `connections` SMTP sessions at once (each one
    conversation; a few keep the server busy through each email's round trips)."""
    return Sender(
        PostgresQueue(pool, store),
        [SmtpConnection.from_settings(settings) for _ in range(connections)],
        settings,
        clock,
        tokens,
        **options,
    )


def reminders(
    pool: asyncpg.Pool, clock: Clock, portal_url: str = "http://127.0.0.1:8000"
) -> Reminders:
    return Reminders(PostgresReminders(pool), PostgresIntents(), clock, portal_url=portal_url)


def bulletins(pool: asyncpg.Pool, clock: Clock) -> Bulletins:
    return Bulletins(PostgresBulletins(pool), PostgresIntents(), clock)


class Services:
    """The application's services, built once the runtime has its pool and store."""

    def __init__(self, settings: NotificationSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.tokens = (
            LinkTokens.from_file(settings.link_key_file) if settings.link_key_file else None
        )
        self._built: NotificationService | None = None

    def build(self, runtime: Runtime) -> NotificationService:
        if self._built is not None:
            return self._built
        store = runtime.require_store()
        pool = runtime.require_pool()
        # The sender's outcomes, and the queue's backlog read at each scrape of /metrics.
        metrics = PrometheusNotificationMetrics(
            runtime.metrics.registry, PostgresQueue(pool, store), self.clock
        )
        runtime.metrics.on_scrape(metrics.refresh)
        mailer = sender(pool, store, self.settings, self.clock, self.tokens, metrics=metrics)
        self._built = NotificationService(
            sender=mailer,
            reminders=reminders(pool, self.clock, portal_url=self.settings.portal_url),
            bulletins=bulletins(pool, self.clock),
            deliveries=Deliveries(PostgresDeliveryLog(pool), self.clock, mailer.wake),
        )
        return self._built


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> FastAPI:
    if not isinstance(settings, NotificationSettings):
        settings = NotificationSettings(**settings.model_dump())
    services = Services(settings, clock or SystemClock())
    interval = settings.reminder_interval_seconds
    bulletin_interval = settings.bulletin_interval_seconds

    async def send(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).sender.run(stop, runtime.monitor("sender"))

    async def remind(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).reminders.run(stop, interval, runtime.monitor("reminders"))

    async def send_scheduled(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).bulletins.run(
            stop, bulletin_interval, runtime.monitor("bulletins")
        )

    def on_start(runtime: Runtime, app: FastAPI) -> None:
        app.state.services = services.build(runtime)

    return create_app(
        "notification",
        settings,
        routers=ROUTERS,
        migrations=notification_migrations(),
        publishes=True,
        subscriptions=subscriptions(consumer_tables()),
        background={"sender": send, "reminders": remind, "bulletins": send_scheduled},
        on_start=on_start,
        description="Every email the cycle sends, exactly once, with reminders and bulletins.",
    )
