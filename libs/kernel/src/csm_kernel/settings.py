"""Settings every service reads from its environment (prefix `CSM_`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Where a service finds its database, the broker and its peers, and how it listens."""

    model_config = SettingsConfigDict(env_prefix="CSM_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:55432/postgres"
    kafka_bootstrap: str = "127.0.0.1:19092"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    consumer_max_attempts: int = 3
    #: How long a store position may stay missing (later ones having arrived) before a consumer
    #: counts it lost and asks its producer to publish it again.
    delivery_delay_seconds: float = 30.0
    #: How long a consumer waits (retrying, its partition held) for a fact another stream
    #: brings before dead-lettering a message that depends on it (`NotYetKnown`).
    dependency_wait_seconds: float = 120.0
    #: How long a consumer keeps the row that marks a message handled; older redeliveries are
    #: still known handled by position (`csm_kernel.tracking`).
    dedup_window_seconds: float = 7 * 24 * 3600.0
    #: How often the consumers' watchdog looks for truncated partitions and missing positions.
    watchdog_interval_seconds: float = 2.0
    #: A background loop that finishes no pass for this long counts as hung (not healthy).
    loop_stall_seconds: float = 120.0
    db_pool_size: int = 10
    #: The largest request body taken (413 above it); a route may allow more for a file
    #: import (`csm_kernel.edge.body_limit`). Every JSON body a service takes is far smaller.
    max_request_bytes: int = 4 * 1024 * 1024
    #: HTTP worker processes (one relays at a time; every one serves requests).
    workers: int = 1
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Children's Services Mapping <csm@localhost>"
    #: The portal's address as people's browsers reach it: every link written into an email
    #: starts with it. One setting for every service that writes a link; never a name that
    #: resolves only inside the cluster (`http://portal:8000`). When set it is `portal_url`.
    public_url: str | None = None
    #: Where people open links sent by email (the portal): `public_url` when that is set (this
    #: older setting, `CSM_PORTAL_URL`, is still read when it is not).
    portal_url: str = "http://127.0.0.1:8000"
    #: Registration's Ed25519 public key (PEM file): every service verifies access tokens.
    auth_public_key_file: Path | None = None
    #: The matching private key: registration only, which signs them.
    auth_private_key_file: Path | None = None
    #: The secret that makes delegates' link tokens (questionnaire and notification only).
    link_key_file: Path | None = None
    #: The secret with which the portal vouches for the address of the person it calls for
    #: (portal and registration only; `csm_kernel.client_address`).
    portal_key_file: Path | None = None

    @model_validator(mode="after")
    def _links_use_the_public_url(self) -> ServiceSettings:
        if self.public_url:
            self.portal_url = self.public_url.rstrip("/")
        return self


#: The embedded stack's ports when nothing says otherwise (as `csm_infra.settings`).
EMBEDDED_PG_PORT = 55432
EMBEDDED_BROKER_PORT = 19092


def command_settings(service: str, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """The settings of an operator's command (`csm-<service> verify`, ...): the service's own
    variables, and where the stack would have set one for the service (`CSM_DATABASE_URL`,
    `CSM_KAFKA_BOOTSTRAP`), the embedded stack's: the service's database on `CSM_PG_PORT` and
    the broker on `CSM_BROKER_PORT`. So a command works next to `make run` with the same
    variables `make run` reads, and nothing else."""
    env = os.environ if environ is None else environ
    overrides: dict[str, str] = {}
    if "CSM_DATABASE_URL" not in env:
        port = env.get("CSM_PG_PORT", str(EMBEDDED_PG_PORT))
        overrides["database_url"] = f"postgresql://postgres@127.0.0.1:{port}/{service}"
    if "CSM_KAFKA_BOOTSTRAP" not in env:
        overrides["kafka_bootstrap"] = (
            f"127.0.0.1:{env.get('CSM_BROKER_PORT', EMBEDDED_BROKER_PORT)}"
        )
    return ServiceSettings().model_copy(update=overrides)
