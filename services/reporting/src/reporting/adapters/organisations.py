"""The organisations read model as a plain list (`application.ports.Organisations`)."""

from __future__ import annotations

import asyncpg

from ..application.ports import OrganisationRecord

_ORGANISATIONS = """
SELECT organisation_id, code, name, kind, region, partnership_areas, registered_at,
       applied_events
  FROM rm_organisations.organisations
 WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR region = $2)
 ORDER BY code
"""


class PostgresOrganisations:
    """Reads `rm_organisations.organisations`, the organisations projection's live table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list(self, kind: str | None, region: str | None) -> list[OrganisationRecord]:
        """Every organisation (of that kind, in that region), by code."""
        rows = await self.pool.fetch(_ORGANISATIONS, kind, region)
        return [OrganisationRecord(**dict(r)) for r in rows]
