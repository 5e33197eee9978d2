"""The national accounts list (`application.national_accounts.NationalAccountList`)."""

from __future__ import annotations

import asyncpg

from ..application.national_accounts import NationalAccount

_NATIONAL = """
SELECT account_id, email, name, roles, status, created_at
  FROM accounts
 WHERE organisation_id IS NULL AND roles && ARRAY['national-admin', 'regulator', 'auditor']
 ORDER BY lower(name), lower(email)
"""


class PostgresNationalAccounts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def national_accounts(self) -> list[NationalAccount]:
        return [
            NationalAccount(
                account_id=r["account_id"],
                email=r["email"],
                name=r["name"],
                roles=tuple(r["roles"]),
                status=r["status"],
                created_at=r["created_at"],
            )
            for r in await self.pool.fetch(_NATIONAL)
        ]
