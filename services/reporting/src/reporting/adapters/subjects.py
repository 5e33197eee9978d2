"""What area and organisation reports can be about, for the portal's pickers
(`application.ports.Subjects`), read from the organisations projection's live table."""

from __future__ import annotations

import asyncpg

from ..application.ports import Subject, SubjectPage

# An area is an LA partnership area that some organisation covers, named after its LA when
# that LA is registered (the LA's code is its area's code).
_AREAS = """
WITH areas AS (
    SELECT DISTINCT unnest(partnership_areas) AS code FROM rm_organisations.organisations
), named AS (
    SELECT a.code, la.name, la.region
      FROM areas a
      LEFT JOIN rm_organisations.organisations la
        ON la.code = a.code AND la.kind = 'local-authority'
)
SELECT code, coalesce(name, code) AS name, region, count(*) OVER () AS total
  FROM named
 WHERE $1::text IS NULL OR code ILIKE $1 OR name ILIKE $1
 ORDER BY coalesce(name, code), code
 LIMIT $2
"""

_ORGANISATIONS = """
SELECT code, name, region, count(*) OVER () AS total
  FROM rm_organisations.organisations
 WHERE ($1::text IS NULL OR code ILIKE $1 OR name ILIKE $1)
   AND ($3::text IS NULL OR code = $3 OR organisation_id = $3)
 ORDER BY name, code
 LIMIT $2
"""


def _pattern(search: str | None) -> str | None:
    """`search` as an ILIKE pattern matching it anywhere (its own % and _ taken literally)."""
    if not search or not search.strip():
        return None
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(rows: list[asyncpg.Record]) -> SubjectPage:
    subjects = [Subject(r["code"], r["name"], r["region"]) for r in rows]
    return SubjectPage(subjects, int(rows[0]["total"]) if rows else 0)


class PostgresSubjects:
    """Areas and organisations to pick from, searched by code or name."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def areas(self, search: str | None, limit: int) -> SubjectPage:
        """Partnership areas matching `search` (code or LA name), by name."""
        return _page(await self.pool.fetch(_AREAS, _pattern(search), limit))

    async def organisations(
        self, search: str | None, limit: int, only: str | None = None
    ) -> SubjectPage:
        """Organisations matching `search` (code or name), by name; `only` that one."""
        return _page(await self.pool.fetch(_ORGANISATIONS, _pattern(search), limit, only))
