"""Transactions on the service's own database, for use cases that change several things at
once (`application.ports.Transactions`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from csm_kernel.database import Connection


class PostgresTransactions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
