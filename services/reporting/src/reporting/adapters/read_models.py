"""Queries over the read models."""

from __future__ import annotations

from typing import Any

import asyncpg


async def list_organisations(
    pool: asyncpg.Pool, kind: str | None, region: str | None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """
        SELECT organisation_id, code, name, kind, region, partnership_areas, registered_at,
               applied_events
          FROM organisations
         WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR region = $2)
         ORDER BY code
        """,
        kind,
        region,
    )
    return [dict(r) for r in rows]
