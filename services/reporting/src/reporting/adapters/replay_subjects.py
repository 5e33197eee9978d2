"""What reports can be about, read from the projections (`application.replaying.Subjects`)."""

from __future__ import annotations

import asyncpg


class ProjectionSubjects:
    """Cycles from the progress projection, organisations and areas from the organisations
    projection (their live tables, which a replay has just built)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def cycles(self) -> list[str]:
        """Every cycle scheduled, in order."""
        rows = await self.pool.fetch("SELECT cycle FROM rm_progress.prog_cycles ORDER BY cycle")
        return [r["cycle"] for r in rows]

    async def organisations(self) -> list[str]:
        """Every organisation's code, in order."""
        rows = await self.pool.fetch(
            "SELECT code FROM rm_organisations.organisations ORDER BY code"
        )
        return [r["code"] for r in rows]

    async def areas(self) -> list[str]:
        """Every partnership area some organisation covers, in order."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT unnest(partnership_areas) AS area"
            " FROM rm_organisations.organisations ORDER BY area"
        )
        return [r["area"] for r in rows]
