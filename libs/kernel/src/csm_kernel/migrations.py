"""Versioned plain-SQL schema migrations, applied at service start, idempotent.

Files are named `NNN_description.sql` and live in a package directory. Each is applied once, in
order, in its own transaction, and recorded in `schema_migrations` under a namespace (the kernel
and each service keep their own numbering). An advisory lock stops two processes starting at
once from racing.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .database import Connection

_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 7_300_001


def discover(directory: Traversable) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration file in a directory, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in directory.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return found


async def apply_migrations(conn: Connection, namespace: str, directory: Traversable) -> list[str]:
    """Apply every pending migration of `namespace`; returns the file names applied."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                namespace text NOT NULL,
                version int NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (namespace, version)
            )
            """
        )
        done = {
            r["version"]
            for r in await conn.fetch(
                "SELECT version FROM schema_migrations WHERE namespace = $1", namespace
            )
        }
        for version, name, sql in discover(directory):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (namespace, version, name) VALUES ($1, $2, $3)",
                    namespace,
                    version,
                    name,
                )
            applied_now.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


def kernel_migrations() -> Traversable:
    """The kernel's own tables: events, relay checkpoints, consumer tracking."""
    return resources.files("csm_kernel.store").joinpath("sql")
