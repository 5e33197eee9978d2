"""SQL for accounts, set-up tokens, sessions, leads and groups (registration's own tables), and
the sign-in counters and trusted devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from csm_kernel.database import Connection
from csm_kernel.errors import Conflict

from ..domain.credentials import AddressFailures, ClientFailures

#: Stale rows dropped by each sign-in attempt: more than an attempt can add, so the counters
#: never outgrow the attempts of their last day however many addresses are tried.
PURGE_BATCH = 20


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
    return await conn.fetchrow("SELECT * FROM accounts WHERE lower(email) = lower($1)", email)


async def hold_counters(
    conn: Connection, address_key: str, client_key: str, now: datetime
) -> tuple[ClientFailures, AddressFailures]:
    """The pair's and the address's counts, their rows created if new and locked (address
    first, always, so two attempts never wait for each other in a cycle) until the end of the
    transaction. A no-op update is what makes ON CONFLICT lock and return the existing row."""
    address = await conn.fetchrow(
        "INSERT INTO sign_in_address_failures (address_key, window_ends_at) VALUES ($1, $2) "
        "ON CONFLICT (address_key) DO UPDATE SET address_key = EXCLUDED.address_key "
        "RETURNING failures, window_ends_at",
        address_key,
        now,
    )
    client = await conn.fetchrow(
        "INSERT INTO sign_in_client_failures (address_key, client_key, last_attempt_at) "
        "VALUES ($1, $2, $3) ON CONFLICT (address_key, client_key) "
        "DO UPDATE SET client_key = EXCLUDED.client_key "
        "RETURNING failures, locked_until, last_attempt_at",
        address_key,
        client_key,
        now,
    )
    assert address is not None and client is not None
    return (
        ClientFailures(client["failures"], client["locked_until"], client["last_attempt_at"]),
        AddressFailures(address["failures"], address["window_ends_at"]),
    )


async def save_counters(
    conn: Connection,
    address_key: str,
    client_key: str,
    client: ClientFailures,
    address: AddressFailures,
) -> None:
    await conn.execute(
        "UPDATE sign_in_client_failures SET failures = $3, locked_until = $4, "
        "last_attempt_at = $5 WHERE address_key = $1 AND client_key = $2",
        address_key,
        client_key,
        client.failures,
        client.locked_until,
        client.last_attempt_at,
    )
    await conn.execute(
        "UPDATE sign_in_address_failures SET failures = $2, window_ends_at = $3 "
        "WHERE address_key = $1",
        address_key,
        address.failures,
        address.window_ends_at,
    )


async def forgive_attempt(conn: Connection, address_key: str, client_key: str) -> None:
    """A right password: the pair starts again, and the address's count (which counted this
    attempt before its password was checked) takes it back."""
    await conn.execute(
        "UPDATE sign_in_address_failures SET failures = greatest(failures - 1, 0) "
        "WHERE address_key = $1",
        address_key,
    )
    await conn.execute(
        "DELETE FROM sign_in_client_failures WHERE address_key = $1 AND client_key = $2",
        address_key,
        client_key,
    )


async def purge_stale_counters(conn: Connection, now: datetime, forget_before: datetime) -> None:
    """Drop a few rows nothing reads any more: pairs quiet since `forget_before` and not
    locked, addresses whose window has ended. Others purging at once are skipped, not awaited."""
    await conn.execute(
        "DELETE FROM sign_in_client_failures WHERE (address_key, client_key) IN ("
        "SELECT address_key, client_key FROM sign_in_client_failures "
        "WHERE last_attempt_at < $1 AND (locked_until IS NULL OR locked_until <= $2) "
        "LIMIT $3 FOR UPDATE SKIP LOCKED)",
        forget_before,
        now,
        PURGE_BATCH,
    )
    await conn.execute(
        "DELETE FROM sign_in_address_failures WHERE address_key IN ("
        "SELECT address_key FROM sign_in_address_failures WHERE window_ends_at <= $1 "
        "LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now,
        PURGE_BATCH,
    )


async def is_trusted_device(
    conn: Connection, device_hash: str, address_key: str, now: datetime
) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM trusted_devices WHERE device_hash = $1 AND address_key = $2 "
        "AND expires_at > $3",
        device_hash,
        address_key,
        now,
    )
    return bool(found)


async def trust_device(
    conn: Connection,
    device_hash: str,
    address_key: str,
    account_id: str,
    now: datetime,
    until: datetime,
) -> None:
    """Trust a device for an address from now until `until` (again, if it already was)."""
    await conn.execute(
        "INSERT INTO trusted_devices (device_hash, address_key, account_id, created_at, "
        "last_used_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) "
        "ON CONFLICT (device_hash, address_key) DO UPDATE SET account_id = EXCLUDED.account_id,"
        " last_used_at = EXCLUDED.last_used_at, expires_at = EXCLUDED.expires_at",
        device_hash,
        address_key,
        account_id,
        now,
        until,
    )
    await conn.execute(
        "DELETE FROM trusted_devices WHERE (device_hash, address_key) IN ("
        "SELECT device_hash, address_key FROM trusted_devices WHERE expires_at <= $1 "
        "LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now,
        PURGE_BATCH,
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
