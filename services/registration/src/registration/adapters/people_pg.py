"""Accounts by id, with their organisation's name (`application.people.PeopleDirectory`)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..application.people import Person

_PEOPLE = """
SELECT a.account_id, a.name, a.email, a.organisation_id, o.name AS organisation_name
  FROM accounts a
  LEFT JOIN organisations o ON o.code = a.organisation_id
 WHERE a.account_id = ANY($1::text[])
"""


class PostgresPeople:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def people(self, account_ids: Sequence[str]) -> list[Person]:
        return [
            Person(
                account_id=r["account_id"],
                name=r["name"],
                email=r["email"],
                organisation_id=r["organisation_id"],
                organisation_name=r["organisation_name"],
                national=r["organisation_id"] is None,
            )
            for r in await self.pool.fetch(_PEOPLE, list(account_ids))
        ]
