"""Wires the registration service."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import FastAPI

from csm_kernel.auth import TokenSigner
from csm_kernel.client_address import ClientProof
from csm_kernel.links import LinkTokens
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore

from .application.accounts import Accounts
from .application.sign_in import SignIn
from .domain.sign_in_keys import SignInKeys
from .entrypoints.consumers import subscriptions
from .entrypoints.http import ROUTERS


def _wire(settings: ServiceSettings) -> Callable[[Runtime, FastAPI], None]:
    def on_start(runtime: Runtime, app: FastAPI) -> None:
        store = runtime.require_store()
        assert isinstance(store, PostgresEventStore)
        pool = runtime.require_pool()
        app.state.accounts = Accounts(store, pool)
        if settings.portal_key_file is not None:
            # Only the portal, holding this key, may say whose address a request is for.
            app.state.client_proof = ClientProof.from_file(settings.portal_key_file)
        if settings.auth_private_key_file is not None:
            links = LinkTokens.from_file(settings.link_key_file) if settings.link_key_file else None
            private_key = settings.auth_private_key_file.read_bytes()
            sign_in = SignIn(
                store,
                pool,
                TokenSigner(private_key),
                links=links,
                # Every replica holds the signing key, so every replica counts alike.
                keys=SignInKeys.derived_from(private_key),
            )
            app.state.sign_in = sign_in
            # Registration refuses tokens of ended sessions at once.
            app.state.revocation_check = sign_in.is_revoked

    return on_start


def registration_migrations() -> Traversable:
    return resources.files("registration.adapters").joinpath("sql")


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_app(
        "registration",
        settings,
        routers=ROUTERS,
        migrations=registration_migrations(),
        publishes=True,
        subscriptions=subscriptions,
        on_start=_wire(settings),
        description="Organisations, mapping leads, credentials and the directory of services.",
    )
