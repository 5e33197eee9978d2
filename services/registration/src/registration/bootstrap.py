"""Wires the registration service: the only module that builds concrete adapters.

`bootstrap` builds the application once (`Registration`); `build_app` hands it to the FastAPI
app at start (`app.state.registration`, reached by routes through the typed dependencies of
`entrypoints.http.dependencies`) and to the Kafka consumer.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from csm_kernel.auth import TokenSigner
from csm_kernel.client_address import ClientProof
from csm_kernel.links import LinkTokens
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore

from .adapters.accounts_repository import PostgresAccounts
from .adapters.directory_pg import PostgresDirectory
from .adapters.national_accounts_pg import PostgresNationalAccounts
from .adapters.organisations_postgres import PostgresOrganisations
from .adapters.people_pg import PostgresPeople
from .application.accounts import Accounts
from .application.hashing_slots import HashingSlots
from .application.national_accounts import NationalAccounts
from .application.people import People
from .application.services import Registration
from .application.sign_in import SignIn
from .application.way_back_in import WayBackIn
from .domain.sign_in_keys import SignInKeys
from .entrypoints import consumers
from .entrypoints.http import ROUTERS
from .settings import RegistrationSettings


def bootstrap(
    store: PostgresEventStore, pool: asyncpg.Pool, settings: ServiceSettings
) -> Registration:
    """The application over the service's database, its adapters built once."""
    organisations = PostgresOrganisations(pool, store)
    accounts = PostgresAccounts(pool, store)
    own = RegistrationSettings.of(settings)
    links = LinkTokens.from_file(settings.link_key_file) if settings.link_key_file else None
    sign_in: SignIn | None = None
    # Every replica holds the signing key, so every replica counts (and derives) alike.
    keys = SignInKeys()
    slots = HashingSlots(own.password_hashing_concurrency)
    if settings.auth_private_key_file is not None:
        private_key = settings.auth_private_key_file.read_bytes()
        keys = SignInKeys.derived_from(private_key)
        sign_in = SignIn(
            accounts,
            TokenSigner(private_key),
            links=links,
            keys=keys,
            slots=slots,
            refresh_grace=timedelta(seconds=own.refresh_grace_seconds),
        )
    return Registration(
        organisations=organisations,
        directory=PostgresDirectory(store, pool),
        accounts=Accounts(accounts, organisations),
        national_accounts=NationalAccounts(accounts, PostgresNationalAccounts(pool)),
        people=People(PostgresPeople(pool)),
        sign_in=sign_in,
        way_back_in=WayBackIn(
            accounts,
            links,
            keys,
            slots=slots,
            reset_lifetime=timedelta(minutes=own.password_reset_minutes),
        ),
    )


def command_line_accounts(pool: asyncpg.Pool, settings: ServiceSettings) -> Accounts:
    """The account use cases for the command line (one write and done: no group commit)."""
    return bootstrap(PostgresEventStore(pool, group_commit=False), pool, settings).accounts


class _Wiring:
    """The application of one running app, built at its start (the consumers are subscribed
    before `on_start` runs, so whichever comes first builds it)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._built: tuple[asyncpg.Pool, Registration] | None = None

    def of(self, runtime: Runtime) -> Registration:
        pool = runtime.require_pool()
        if self._built is None or self._built[0] is not pool:
            store = runtime.require_store()
            self._built = (pool, bootstrap(store, pool, self.settings))
        return self._built[1]

    def subscriptions(self, runtime: Runtime, broker: KafkaBroker) -> None:
        consumers.subscribe(runtime, broker, self.of(runtime).directory)

    def on_start(self, runtime: Runtime, app: FastAPI) -> None:
        registration = self.of(runtime)
        app.state.registration = registration
        app.state.way_back_in = registration.way_back_in
        if self.settings.portal_key_file is not None:
            # Only the portal, holding this key, may say whose address a request is for.
            app.state.client_proof = ClientProof.from_file(self.settings.portal_key_file)
        if registration.sign_in is not None:
            app.state.sign_in = registration.sign_in
            # Registration refuses tokens of ended sessions at once.
            app.state.revocation_check = registration.sign_in.is_revoked


def registration_migrations() -> Traversable:
    return resources.files("registration.adapters").joinpath("sql")


def build_app(settings: ServiceSettings) -> FastAPI:
    wiring = _Wiring(settings)
    return create_app(
        "registration",
        settings,
        routers=ROUTERS,
        migrations=registration_migrations(),
        publishes=True,
        subscriptions=wiring.subscriptions,
        on_start=wiring.on_start,
        description="Organisations, mapping leads, credentials and the directory of services.",
    )
