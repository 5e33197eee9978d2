"""Each service started for real and seeded (see `hostile_stack`, `hostile_seeds`), once per
test module, and the requests planned for it once (in a thread: Hypothesis draws them)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import hostile_seeds
from csm_kernel.clock import FixedClock
from csm_kernel.settings import ServiceSettings
from hostile_api import BASE_URL, HOSTILE_FEW
from hostile_stack import Target, link_key_file, started

Seed = Callable[[Target, Any], Awaitable[None]]


@pytest.fixture(scope="session")
def hostile_link_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One link key for every service, as in production (notification's)."""
    return link_key_file(tmp_path_factory.mktemp("hostile-links"))


def _settings(infra: Any, auth_keys: Any, link_key: Path, dsn: str) -> dict[str, Any]:
    return {
        "database_url": dsn,
        "kafka_bootstrap": infra.bootstrap,
        "smtp_port": infra.smtp_port,
        "auth_public_key_file": auth_keys.public_file,
        "link_key_file": link_key,
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 500,
    }


@contextlib.asynccontextmanager
async def _target(
    name: str, app: Any, seed: Seed, auth_keys: Any, **extra: Any
) -> AsyncIterator[Target]:
    async with started(app) as client:
        target = Target(name, app, client, {}, [], dict(extra))
        await seed(target, auth_keys)
        yield target


@pytest.fixture(scope="module")
async def registration_target(
    infra: Any, auth_keys: Any, hostile_link_key: Path
) -> AsyncIterator[Target]:
    from registration.bootstrap import build_app

    settings = _settings(infra, auth_keys, hostile_link_key, await infra.create_database("hreg"))
    app = build_app(ServiceSettings(**settings, auth_private_key_file=auth_keys.private_file))
    async with _target("registration", app, hostile_seeds.registration, auth_keys) as t:
        yield t


@pytest.fixture(scope="module")
async def questionnaire_target(
    infra: Any, auth_keys: Any, hostile_link_key: Path
) -> AsyncIterator[Target]:
    from questionnaire.bootstrap import QuestionnaireSettings, build_app

    settings = _settings(infra, auth_keys, hostile_link_key, await infra.create_database("hq"))
    clock = FixedClock(datetime(2009, 9, 1, tzinfo=UTC))
    # The test moves the clock and ticks itself.
    app = build_app(
        QuestionnaireSettings(
            **settings,
            cycle_tick_seconds=3600,
            signing_key_dir=hostile_link_key.parent / "signing-keys",  # not ./var's
        ),
        clock=clock,
    )
    async with _target(
        "questionnaire", app, hostile_seeds.questionnaire, auth_keys, clock=clock
    ) as t:
        yield t


@pytest.fixture(scope="module")
async def reporting_target(
    infra: Any, auth_keys: Any, hostile_link_key: Path
) -> AsyncIterator[Target]:
    from reporting.bootstrap import ReportingSettings, build_app

    settings = _settings(infra, auth_keys, hostile_link_key, await infra.create_database("hrep"))
    app = build_app(ReportingSettings(**settings, projector_idle_seconds=0.1))
    async with _target("reporting", app, hostile_seeds.reporting, auth_keys) as t:
        yield t


@pytest.fixture(scope="module")
async def notification_target(
    infra: Any, auth_keys: Any, hostile_link_key: Path
) -> AsyncIterator[Target]:
    from notification.bootstrap import build_app

    infra.ensure_smtp_running()
    settings = _settings(infra, auth_keys, hostile_link_key, await infra.create_database("hn"))
    clock = FixedClock(datetime(2009, 11, 10, 9, 0, tzinfo=UTC))
    app = build_app(
        ServiceSettings(**settings, smtp_host="127.0.0.1", portal_url="https://csm.example"),
        clock=clock,
    )
    async with _target(
        "notification", app, hostile_seeds.notification, auth_keys, clock=clock
    ) as t:
        yield t


@pytest.fixture(scope="module")
async def portal_target(
    registration_target: Target,
    questionnaire_target: Target,
    reporting_target: Target,
    notification_target: Target,
    auth_keys: Any,
) -> AsyncIterator[Target]:
    """The portal over the four seeded services (in-process), signed in by cookie."""
    import hostile_portal
    from portal.bootstrap import build_app
    from portal.settings import PortalSettings

    targets = {
        "registration": registration_target,
        "questionnaire": questionnaire_target,
        "reporting": reporting_target,
        "notification": notification_target,
    }
    settings = PortalSettings(
        auth_public_key_file=auth_keys.public_file, cookie_secure=False, mailbox_auto=False
    )
    app = build_app(settings, clients=hostile_portal.service_clients(targets))
    catalogue = questionnaire_target.app.state.services.catalogue
    answers = [q for d in catalogue.all() for q in d.questions][:4]
    delegate = questionnaire_target.identity("delegate").headers["X-Delegate-Token"]
    async with started(app) as client:
        t = Target("portal", app, client, hostile_portal.known(targets, delegate), [])
        t.identities = hostile_portal.portal_identities(registration_target, BASE_URL)
        t.extra["openapi"] = hostile_portal.portal_openapi(app, answers)
        # Public, the same for anyone, and a password hash per attempt (at registration).
        t.extra["anonymous_only"] = ("POST /sign-in", "POST /account/set-up")
        # A page costs several services' calls: fewer drawn cases, one hostile value per kind.
        t.extra["plan_options"] = {"per_variant": 3, "values": HOSTILE_FEW}
        yield t
