"""SQL for accounts, set-up tokens, sessions, leads and groups (registration's own tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from csm_kernel.database import Connection
from csm_kernel.errors import Conflict


async def insert_account(
    conn: Connection,
    *,
    account_id: str,
    email: str,
    name: str,
    organisation_id: str | None,
    group_id: str | None,
    roles: list[str],
) -> None:
    try:
        await conn.execute(
            "INSERT INTO accounts (account_id, email, name, organisation_id, group_id, roles, "
            "status) VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            account_id, email, name, organisation_id, group_id, roles,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise Conflict(f"an account for {email} already exists") from None


async def insert_setup_link(
    conn: Connection, setup_id: str, account_id: str, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO setup_links (setup_id, account_id, expires_at) VALUES ($1, $2, $3)",
        setup_id, account_id, expires_at,
    )  # fmt: skip


async def account_by_email(conn: Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM accounts WHERE lower(email) = lower($1) FOR UPDATE", email
    )


async def account(conn: Connection, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)


async def disable_account(conn: Connection, account_id: str, now: datetime) -> None:
    await conn.execute("UPDATE accounts SET status = 'disabled' WHERE account_id = $1", account_id)
    await revoke_sessions(conn, account_id, now)


async def revoke_sessions(conn: Connection, account_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
        account_id, now,
    )  # fmt: skip


async def current_lead(conn: Connection, organisation_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM mapping_leads WHERE organisation_id = $1 FOR UPDATE", organisation_id
    )


async def set_lead(
    conn: Connection, organisation_id: str, account_id: str, stream_version: int
) -> None:
    await conn.execute(
        "INSERT INTO mapping_leads (organisation_id, account_id, stream_version) "
        "VALUES ($1, $2, $3) ON CONFLICT (organisation_id) DO UPDATE SET "
        "account_id = EXCLUDED.account_id, stream_version = EXCLUDED.stream_version",
        organisation_id, account_id, stream_version,
    )  # fmt: skip


async def insert_group(
    conn: Connection, group_id: str, organisation_id: str, name: str, kind: str
) -> None:
    await conn.execute(
        "INSERT INTO service_groups (group_id, organisation_id, name, kind) "
        "VALUES ($1, $2, $3, $4)",
        group_id, organisation_id, name, kind,
    )  # fmt: skip


async def set_group_owner(conn: Connection, group_id: str, account_id: str) -> None:
    await conn.execute(
        "UPDATE service_groups SET owner_account_id = $2 WHERE group_id = $1",
        group_id, account_id,
    )  # fmt: skip


async def groups_of(pool: asyncpg.Pool, organisation_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT g.group_id, g.organisation_id, g.name, g.kind, a.account_id AS owner_account_id,"
        " a.name AS owner_name, a.email AS owner_email FROM service_groups g "
        "LEFT JOIN accounts a ON a.account_id = g.owner_account_id "
        "WHERE g.organisation_id = $1 ORDER BY g.name",
        organisation_id,
    )
    return [dict(r) for r in rows]
