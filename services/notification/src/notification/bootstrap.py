"""Wires the notification service: consumers that record what to send, a sender that sends it
exactly once, the reminder schedule, bulletins and the delivery log."""

from __future__ import annotations

import asyncio
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import FastAPI

from csm_kernel.clock import Clock, SystemClock
from csm_kernel.links import LinkTokens
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore

from .application.bulletins import Bulletins
from .application.reminders import Reminders
from .application.sender import Sender
from .entrypoints.consumers import subscriptions
from .entrypoints.http import ROUTERS


class NotificationSettings(ServiceSettings):
    #: How often due deadline reminders are looked for.
    reminder_interval_seconds: float = 60.0


class Services:
    """The sender, reminders and bulletins, built once the runtime has its pool and store."""

    def __init__(self, settings: NotificationSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.tokens = (
            LinkTokens.from_file(settings.link_key_file) if settings.link_key_file else None
        )
        self._built = False

    def build(self, runtime: Runtime) -> Services:
        if self._built:
            return self
        store = runtime.require_store()
        assert isinstance(store, PostgresEventStore)
        pool = runtime.require_pool()
        self.sender = Sender(pool, store, self.settings, self.clock, self.tokens)
        self.reminders = Reminders(pool, self.clock, portal_url=self.settings.portal_url)
        self.bulletins = Bulletins(pool, self.clock)
        self._built = True
        return self


def notification_migrations() -> Traversable:
    return resources.files("notification.adapters").joinpath("sql")


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> FastAPI:
    if not isinstance(settings, NotificationSettings):
        settings = NotificationSettings(**settings.model_dump())
    services = Services(settings, clock or SystemClock())
    interval = settings.reminder_interval_seconds

    async def send(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).sender.run(stop, runtime.monitor("sender"))

    async def remind(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).reminders.run(stop, interval, runtime.monitor("reminders"))

    def on_start(runtime: Runtime, app: FastAPI) -> None:
        app.state.services = services.build(runtime)

    app = create_app(
        "notification",
        settings,
        routers=ROUTERS,
        migrations=notification_migrations(),
        publishes=True,
        subscriptions=subscriptions,
        background={"sender": send, "reminders": remind},
        on_start=on_start,
        description="Every email the cycle sends, exactly once, with reminders and bulletins.",
    )
    app.state.services = services
    return app
