"""Wires the questionnaire service: the only place that builds the concrete adapters
(PostgreSQL repositories, the snapshot writer) and hands them to the use cases as their ports.

The clock is injected: tests pass a `FixedClock` and call `services.cycles.tick()` to move a
cycle through its phases at once; in production a loop ticks every `cycle_tick_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from csm_contracts import Topics
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.links import LinkTokens
from csm_kernel.observability import get_logger
from csm_kernel.relay import MessageSigner, sign_topics
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings
from csm_kernel.signing import KeyDirectory

from .adapters.cycles_pg import PostgresCycles
from .adapters.metrics_prom import PrometheusActivity
from .adapters.questionnaires_pg import PostgresQuestionnaires
from .adapters.registry_pg import PostgresRegistry
from .adapters.snapshots_pg import Snapshots
from .adapters.transactions_pg import PostgresTransactions
from .application.answering import Questionnaires
from .application.catalogue import DefinitionCatalogue, shipped_catalogue
from .application.cycles import Cycles
from .application.following import Following
from .application.last_year import LastYearsAnswers
from .application.sandbox import Sandbox
from .application.service import QuestionnaireService
from .application.sign_off import Returns
from .entrypoints.consumers import RegistrationFollower, subscriptions_for
from .entrypoints.http import ROUTERS

log = get_logger(__name__)


def _default_signing_key_dir() -> Path:
    return Path(os.environ.get("CSM_VAR_DIR", "var")) / "signing-keys"


class QuestionnaireSettings(ServiceSettings):
    #: How often the clock loop moves cycles through their timetable.
    cycle_tick_seconds: float = 5.0
    #: The key ring that signs the public topic (`CSM_SIGNING_KEY_DIR`; `csm_kernel.signing`):
    #: made with its first key on the first start, rotated and retired by the operator
    #: (`csm-questionnaire signing-keys`). By default `<CSM_VAR_DIR>/signing-keys`.
    signing_key_dir: Path = Field(default_factory=_default_signing_key_dir)


def public_topic_signer(keys: KeyDirectory) -> MessageSigner:
    """What the relay signs with: every message to the public topic, with the key active when
    it is sent (the directory is read again after a rotation)."""
    return sign_topics([Topics.PUBLIC_SIGNOFFS], lambda value: keys.ring().sign(value))


class Services:
    """The service wired once the runtime has its pool and store: the use cases
    (`application`, which the entrypoints get), the adapters behind them, and the consumer."""

    def __init__(self, catalogue: DefinitionCatalogue, clock: Clock, links: LinkTokens | None):
        self.catalogue = catalogue
        self.clock = clock
        self.links = links
        self._built = False

    def build(self, runtime: Runtime) -> Services:
        if self._built:
            return self
        store = runtime.require_store()
        pool = runtime.require_pool()
        transactions = PostgresTransactions(pool)
        registry = PostgresRegistry(pool)
        activity = PrometheusActivity(runtime.metrics.registry)
        self.snapshots = Snapshots(pool)
        self.questionnaire_repo = PostgresQuestionnaires(pool, store, self.snapshots)
        self.cycle_repo = PostgresCycles(pool, store)
        self.cycles = Cycles(
            transactions,
            self.cycle_repo,
            self.questionnaire_repo,
            registry,
            self.catalogue,
            self.clock,
        )
        self.questionnaires = Questionnaires(
            self.questionnaire_repo, self.catalogue, self.clock, self.links, activity
        )
        self.returns = Returns(
            transactions,
            self.cycle_repo,
            self.questionnaire_repo,
            registry,
            self.catalogue,
            self.clock,
            activity,
        )
        following = Following(self.cycles, self.questionnaire_repo, registry, self.catalogue)
        self.application = QuestionnaireService(
            catalogue=self.catalogue,
            questionnaires=self.questionnaires,
            last_year=LastYearsAnswers(
                self.questionnaires, self.questionnaire_repo, self.catalogue, registry
            ),
            cycles=self.cycles,
            returns=self.returns,
            sandbox=Sandbox(self.catalogue),
            following=following,
            links=self.links,
        )
        self.follower = RegistrationFollower(following)
        self._built = True
        return self


def questionnaire_migrations() -> Traversable:
    return resources.files("questionnaire.adapters").joinpath("sql")


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> FastAPI:
    if not isinstance(settings, QuestionnaireSettings):
        settings = QuestionnaireSettings(**settings.model_dump())
    links = (
        LinkTokens.from_file(settings.link_key_file) if settings.link_key_file is not None else None
    )
    services = Services(shipped_catalogue(), clock or SystemClock(), links)
    signing_keys = KeyDirectory(settings.signing_key_dir)
    tick_seconds = settings.cycle_tick_seconds

    async def cycle_clock(runtime: Runtime, stop: asyncio.Event) -> None:
        monitor = runtime.monitor("cycle-clock")
        while not stop.is_set():
            try:
                await services.build(runtime).cycles.tick()
                monitor.beat()
            except Exception as exc:  # the database is away: try again next tick
                monitor.failed(exc)
                log.warning("cycle clock tick failed; will retry", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick_seconds)

    async def snapshot_writer(runtime: Runtime, stop: asyncio.Event) -> None:
        await services.build(runtime).snapshots.run(stop, runtime.monitor("snapshot-writer"))

    def on_start(runtime: Runtime, app: FastAPI) -> None:
        # The first start makes the first key; a directory it cannot read stops the start.
        log.info(
            "signing the public topic",
            key_dir=str(settings.signing_key_dir),
            kid=signing_keys.ring().active_kid,
        )
        app.state.services = services.build(runtime)
        app.state.application = app.state.services.application

    app = create_app(
        "questionnaire",
        settings,
        routers=ROUTERS,
        migrations=questionnaire_migrations(),
        publishes=True,
        subscriptions=subscriptions_for(lambda runtime: services.build(runtime).follower),
        background={"cycle-clock": cycle_clock, "snapshot-writer": snapshot_writer},
        on_start=on_start,
        description="Cycles, questionnaires, delegation, submission and sign-off.",
        signer=public_topic_signer(signing_keys),
    )
    app.state.services = services
    app.state.signing_keys = signing_keys
    return app
