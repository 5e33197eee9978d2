"""Connection pools and start-up migrations for a service's own database."""

from __future__ import annotations

import asyncio
import time
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from .migrations import apply_migrations, kernel_migrations

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    #: A connection, whether taken from a pool or opened alone.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection


async def keep_session(_: asyncpg.Connection[asyncpg.Record]) -> None:
    """How the kernel's pools reset a connection coming back: not at all.

    asyncpg has already rolled back any open transaction and dropped the listener callbacks
    by then; its default reset adds a round trip on every release (`pg_advisory_unlock_all`,
    `CLOSE ALL`, `UNLISTEN *`, `RESET ALL`: ~5 % of a service's CPU per request, and as much
    again in PostgreSQL). So code that leaves session state on a pooled connection undoes it
    before releasing: the session-level locks (migrations, the relay's leadership, rebuilds)
    are unlocked explicitly, listeners removed, and settings are `SET LOCAL`.
    """


async def connect_pool(dsn: str, *, size: int = 10, wait_seconds: float = 30.0) -> asyncpg.Pool:
    """A pool, waiting up to `wait_seconds` for the database to accept connections; its
    connections are not reset on release (`keep_session`)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, reset=keep_session)
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def migrate(pool: asyncpg.Pool, service: str, service_sql: Traversable | None) -> None:
    """Apply the kernel's migrations, then the service's own."""
    async with pool.acquire() as conn:
        await apply_migrations(conn, "kernel", kernel_migrations())
        if service_sql is not None:
            await apply_migrations(conn, service, service_sql)


#: Errors that say the database (or the way to it) is away, or that the work merely met other
#: work, not that the work is wrong: whoever meets one waits and tries the same work again, for
#: as long as it takes, and never counts it against the work (a dead-lettered message, a
#: skipped item). PostgreSQL stopping (`57P01` admin shutdown, `57P02` crash shutdown, `57P03`
#: starting up), running out of resources (class 53: connections, disk, memory) and class 40
#: (deadlock, serialization failure) are such. A statement timeout is not: it may well be the
#: work's own size, and retrying that for ever would hold everything behind it up.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TransactionRollbackError,
)


def is_transient(exc: BaseException) -> bool:
    """Is `exc` the database being away (try again later), rather than a fault of the work?"""
    return isinstance(exc, TRANSIENT_ERRORS)


async def database_ready(pool: asyncpg.Pool) -> bool:
    """Does the database answer a trivial query?"""
    try:
        return bool(await pool.fetchval("SELECT true"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
