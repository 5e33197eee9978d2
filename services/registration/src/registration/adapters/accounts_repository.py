"""Accounts on PostgreSQL: accounts, set-up links, sessions, leads and groups (registration's
own tables), the sign-in counters and trusted devices, and the account streams in the event
store. Implements the `AccountRepository` and `Credentials` ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import asyncpg

from csm_contracts.auth import Role
from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import Conflict
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore

from ..application.ports import (
    Account,
    CurrentLead,
    ServiceGroup,
    Session,
    SetUpLink,
    SpentRefresh,
)
from ..domain.credentials import AddressFailures, ClientFailures

#: Stale rows dropped by each sign-in attempt: more than an attempt can add, so the counters
#: never outgrow the attempts of their last day however many addresses are tried.
PURGE_BATCH = 20

_SESSION = (
    "SELECT s.session_id, s.account_id, s.expires_at, s.revoked_at, s.refresh_hash, a.status "
    "FROM sessions s JOIN accounts a USING (account_id)"
)
_GROUP = (
    "SELECT g.group_id, g.organisation_id, g.name, g.kind, g.owner_account_id FROM service_groups g"
)


def _account(row: asyncpg.Record | None) -> Account | None:
    if row is None:
        return None
    return Account(
        account_id=row["account_id"],
        email=row["email"],
        name=row["name"],
        organisation_id=row["organisation_id"],
        group_id=row["group_id"],
        roles=tuple(Role(r) for r in row["roles"]),
        status=row["status"],
        password_hash=row["password_hash"],
    )


def _group(row: asyncpg.Record) -> ServiceGroup:
    return ServiceGroup(
        group_id=row["group_id"],
        organisation_id=row["organisation_id"],
        name=row["name"],
        kind=row["kind"],
        owner_account_id=row["owner_account_id"],
    )


class PostgresAccounts:
    """Both account ports over the service's own database."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self.pool = pool
        self.store = store

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def savepoint(self, conn: Connection) -> AsyncIterator[None]:
        async with conn.transaction():  # nested in a transaction: a savepoint
            yield

    # --- events ---------------------------------------------------------------------------

    async def append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventPayload],
        context: AppendContext,
    ) -> None:
        await self.store.append_with(
            conn, stream_id, expected_version, [NewEvent.from_payload(e) for e in events], context
        )

    async def stream_version(self, stream_id: str) -> int:
        return await self.store.stream_version(stream_id)

    async def read_stream(self, stream_id: str) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id)

    # --- accounts, leads and groups --------------------------------------------------------

    async def insert_account(
        self,
        conn: Connection,
        *,
        account_id: str,
        email: str,
        name: str,
        organisation_id: str | None,
        group_id: str | None,
        roles: Sequence[Role],
    ) -> None:
        try:
            await conn.execute(
                "INSERT INTO accounts (account_id, email, name, organisation_id, group_id, roles,"
                " status) VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
                account_id,
                email,
                name,
                organisation_id,
                group_id,
                [r.value for r in roles],
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"an account for {email} already exists") from None

    async def insert_setup_link(
        self,
        conn: Connection,
        setup_id: str,
        account_id: str,
        expires_at: datetime,
        purpose: str = "set-up",
    ) -> None:
        await conn.execute(
            "INSERT INTO setup_links (setup_id, account_id, expires_at, purpose) "
            "VALUES ($1, $2, $3, $4)",
            setup_id,
            account_id,
            expires_at,
            purpose,
        )

    async def supersede_links(
        self, conn: Connection, account_id: str, purpose: str, now: datetime
    ) -> None:
        await conn.execute(
            "UPDATE setup_links SET superseded_at = $3 WHERE account_id = $1 AND purpose = $2 "
            "AND used_at IS NULL AND superseded_at IS NULL",
            account_id,
            purpose,
            now,
        )

    async def group_name(self, conn: Connection, group_id: str) -> str | None:
        name: str | None = await conn.fetchval(
            "SELECT name FROM service_groups WHERE group_id = $1", group_id
        )
        return name

    async def count_link_request(
        self, conn: Connection, scope: str, key: str, now: datetime, window: timedelta
    ) -> tuple[int, datetime]:
        row = await conn.fetchrow(
            "INSERT INTO link_request_counts AS c (scope, key, requests, window_ends_at) "
            "VALUES ($1, $2, 1, $4) ON CONFLICT (scope, key) DO UPDATE SET "
            "requests = CASE WHEN c.window_ends_at <= $3 THEN 1 ELSE c.requests + 1 END, "
            "window_ends_at = CASE WHEN c.window_ends_at <= $3 THEN EXCLUDED.window_ends_at "
            "ELSE c.window_ends_at END RETURNING requests, window_ends_at",
            scope,
            key,
            now,
            now + window,
        )
        assert row is not None
        return row["requests"], row["window_ends_at"]

    async def forget_failures(self, conn: Connection, address_key: str) -> None:
        await conn.execute(
            "DELETE FROM sign_in_client_failures WHERE address_key = $1", address_key
        )
        await conn.execute(
            "UPDATE sign_in_address_failures SET failures = 0 WHERE address_key = $1", address_key
        )

    async def purge_link_requests(self, conn: Connection, now: datetime) -> None:
        await conn.execute(
            "DELETE FROM link_request_counts WHERE (scope, key) IN ("
            "SELECT scope, key FROM link_request_counts WHERE window_ends_at <= $1 "
            "LIMIT $2 FOR UPDATE SKIP LOCKED)",
            now,
            PURGE_BATCH,
        )

    async def account(self, conn: Connection, account_id: str) -> Account | None:
        return _account(
            await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
        )

    async def account_by_email(self, conn: Connection, email: str) -> Account | None:
        return _account(
            await conn.fetchrow("SELECT * FROM accounts WHERE lower(email) = lower($1)", email)
        )

    async def disable_account(self, conn: Connection, account_id: str, now: datetime) -> None:
        await conn.execute(
            "UPDATE accounts SET status = 'disabled' WHERE account_id = $1", account_id
        )
        await conn.execute(
            "UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
            account_id,
            now,
        )

    async def current_lead(self, conn: Connection, organisation_id: str) -> CurrentLead | None:
        row = await conn.fetchrow(
            "SELECT account_id, stream_version FROM mapping_leads WHERE organisation_id = $1 "
            "FOR UPDATE",
            organisation_id,
        )
        return None if row is None else CurrentLead(row["account_id"], row["stream_version"])

    async def set_lead(
        self, conn: Connection, organisation_id: str, account_id: str, stream_version: int
    ) -> None:
        await conn.execute(
            "INSERT INTO mapping_leads (organisation_id, account_id, stream_version) "
            "VALUES ($1, $2, $3) ON CONFLICT (organisation_id) DO UPDATE SET "
            "account_id = EXCLUDED.account_id, stream_version = EXCLUDED.stream_version",
            organisation_id,
            account_id,
            stream_version,
        )

    async def insert_group(
        self, conn: Connection, group_id: str, organisation_id: str, name: str, kind: str
    ) -> None:
        await conn.execute(
            "INSERT INTO service_groups (group_id, organisation_id, name, kind) "
            "VALUES ($1, $2, $3, $4)",
            group_id,
            organisation_id,
            name,
            kind,
        )

    async def set_group_owner(self, conn: Connection, group_id: str, account_id: str) -> None:
        await conn.execute(
            "UPDATE service_groups SET owner_account_id = $2 WHERE group_id = $1",
            group_id,
            account_id,
        )

    async def groups_of(self, organisation_id: str) -> list[ServiceGroup]:
        rows = await self.pool.fetch(
            f"{_GROUP} WHERE g.organisation_id = $1 ORDER BY g.name", organisation_id
        )
        return [_group(r) for r in rows]

    async def group(self, group_id: str) -> ServiceGroup | None:
        row = await self.pool.fetchrow(f"{_GROUP} WHERE g.group_id = $1", group_id)
        return None if row is None else _group(row)

    # --- set-up links, passwords and sessions ----------------------------------------------

    async def setup_link_for_update(self, conn: Connection, setup_id: str) -> SetUpLink | None:
        row = await conn.fetchrow(
            "SELECT t.account_id, t.expires_at, t.used_at, t.purpose, t.superseded_at, a.email, "
            "a.name, a.status, a.organisation_id, a.roles FROM setup_links t "
            "JOIN accounts a USING (account_id) WHERE t.setup_id = $1 FOR UPDATE OF t",
            setup_id,
        )
        if row is None:
            return None
        return SetUpLink(
            account_id=row["account_id"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
            email=row["email"],
            status=row["status"],
            organisation_id=row["organisation_id"],
            purpose=row["purpose"],
            superseded_at=row["superseded_at"],
            name=row["name"],
            roles=tuple(Role(r) for r in row["roles"]),
        )

    async def use_setup_link(self, conn: Connection, setup_id: str, now: datetime) -> None:
        await conn.execute("UPDATE setup_links SET used_at = $2 WHERE setup_id = $1", setup_id, now)

    async def set_password(
        self, conn: Connection, account_id: str, password_hash: str, *, activate: bool
    ) -> None:
        if activate:
            await conn.execute(
                "UPDATE accounts SET password_hash = $2, status = 'active' WHERE account_id = $1",
                account_id,
                password_hash,
            )
        else:
            await conn.execute(
                "UPDATE accounts SET password_hash = $2 WHERE account_id = $1",
                account_id,
                password_hash,
            )

    async def open_session(
        self,
        conn: Connection,
        session_id: str,
        account_id: str,
        refresh_hash: str,
        expires_at: datetime,
    ) -> None:
        await conn.execute(
            "INSERT INTO sessions (session_id, account_id, refresh_hash, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            session_id,
            account_id,
            refresh_hash,
            expires_at,
        )

    async def session_for_update(self, conn: Connection, refresh_hash: str) -> Session | None:
        row = await conn.fetchrow(
            f"{_SESSION} WHERE s.refresh_hash = $1 FOR UPDATE OF s", refresh_hash
        )
        return _session(row)

    async def session_by_id_for_update(self, conn: Connection, session_id: str) -> Session | None:
        row = await conn.fetchrow(f"{_SESSION} WHERE s.session_id = $1 FOR UPDATE OF s", session_id)
        return _session(row)

    async def spent_session(self, conn: Connection, refresh_hash: str) -> SpentRefresh | None:
        row = await conn.fetchrow(
            "SELECT session_id, spent_at FROM spent_refresh_tokens WHERE refresh_hash = $1",
            refresh_hash,
        )
        return None if row is None else SpentRefresh(row["session_id"], row["spent_at"])

    async def rotate_refresh(
        self, conn: Connection, session_id: str, spent_hash: str, new_hash: str, now: datetime
    ) -> None:
        await conn.execute(
            "INSERT INTO spent_refresh_tokens (refresh_hash, session_id, spent_at) "
            "VALUES ($1, $2, $3)",
            spent_hash,
            session_id,
            now,
        )
        await conn.execute(
            "UPDATE sessions SET refresh_hash = $2 WHERE session_id = $1", session_id, new_hash
        )

    async def revoke_session(self, conn: Connection | None, session_id: str, now: datetime) -> None:
        sql = "UPDATE sessions SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL"
        if conn is None:
            await self.pool.execute(sql, session_id, now)
        else:
            await conn.execute(sql, session_id, now)

    async def revoke_sessions_of(self, conn: Connection, account_id: str, now: datetime) -> None:
        await conn.execute(
            "UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
            account_id,
            now,
        )

    async def session_state(self, session_id: str) -> Session | None:
        row = await self.pool.fetchrow(f"{_SESSION} WHERE s.session_id = $1", session_id)
        return _session(row)

    # --- sign-in counters and trusted devices ----------------------------------------------

    async def hold_counters(
        self, conn: Connection, address_key: str, client_key: str, now: datetime
    ) -> tuple[ClientFailures, AddressFailures]:
        """The pair's and the address's counts, their rows created if new and locked (address
        first, always, so two attempts never wait for each other in a cycle) until the end of
        the transaction. A no-op update is what makes ON CONFLICT lock and return the row."""
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
        self,
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

    async def forgive_attempt(self, conn: Connection, address_key: str, client_key: str) -> None:
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

    async def purge_stale_counters(
        self, conn: Connection, now: datetime, forget_before: datetime
    ) -> None:
        """Drop a few rows nothing reads any more: pairs quiet since `forget_before` and not
        locked, addresses whose window has ended. Others purging at once are skipped."""
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
        self, conn: Connection, device_hash: str, address_key: str, now: datetime
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
        self,
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
            "ON CONFLICT (device_hash, address_key) DO UPDATE SET "
            "account_id = EXCLUDED.account_id, last_used_at = EXCLUDED.last_used_at, "
            "expires_at = EXCLUDED.expires_at",
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


def _session(row: asyncpg.Record | None) -> Session | None:
    if row is None:
        return None
    return Session(
        session_id=row["session_id"],
        account_id=row["account_id"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        account_status=row["status"],
        refresh_hash=row["refresh_hash"],
    )
