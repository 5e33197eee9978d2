"""The participation page's query over the live progress and organisations projections
(`application.participation.ParticipationReader`).

One statement answers a page: per organisation in the cycle, its questionnaires grouped (the
`prog_questionnaires (cycle, organisation_id)` index), joined to its return and its
registration, each row's status and flags worked out once (a materialised CTE), then the
counts per filter, the total and the page (OFFSET paging over the sorted few thousand rows:
a sort key such as "last activity" is an aggregate, which no index can hold)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import orjson

from ..application.participation import (
    FLAGS,
    STAGES,
    ParticipationPage,
    ParticipationQuery,
    ParticipationRow,
    ReturnStatus,
    SortKey,
)
from .cells import csv_field

# $1 cycle, $2 data entry closes, $3 now, $4 region, $5 kind, $6 status, $7 search pattern.
_BASE = """
WITH q AS (
    SELECT organisation_id,
           count(*) FILTER (WHERE status <> 'cancelled') AS issued,
           count(*) FILTER (WHERE status = 'submitted') AS submitted,
           count(*) FILTER (WHERE status NOT IN ('not-started', 'cancelled')) AS touched,
           greatest(max(last_saved_at), max(submitted_at), max(last_delegated_at),
                    max(returned_at)) AS last_activity
      FROM rm_progress.prog_questionnaires
     WHERE cycle = $1
     GROUP BY organisation_id
), r AS (
    SELECT * FROM rm_progress.prog_returns WHERE cycle = $1
), joined AS (
    SELECT coalesce(q.organisation_id, r.organisation_id) AS organisation_id,
           coalesce(q.issued, 0) AS issued, coalesce(q.submitted, 0) AS submitted,
           coalesce(q.touched, 0) AS touched, q.last_activity AS q_activity,
           coalesce(r.signed_off, false) AS signed_off,
           CASE WHEN r.signed_off THEN r.last_signed_off_at END AS signed_off_at,
           r.extension_until, coalesce(r.reopenings, 0) AS reopenings,
           r.last_signed_off_at, r.last_reopened_at, r.organisation_name
      FROM q FULL JOIN r ON r.organisation_id = q.organisation_id
), rows AS (
    SELECT j.organisation_id, coalesce(o.code, j.organisation_id) AS code,
           coalesce(o.name, j.organisation_name) AS name, o.kind, o.region,
           j.issued, j.submitted, j.signed_off_at, j.extension_until, j.reopenings,
           greatest(j.q_activity, j.last_signed_off_at, j.last_reopened_at) AS last_activity,
           greatest($2::timestamptz, j.extension_until) AS deadline,
           CASE WHEN j.signed_off THEN 'signed-off'
                WHEN j.issued > 0 AND j.submitted >= j.issued THEN 'submitted'
                WHEN j.touched = 0 AND j.reopenings = 0 THEN 'not-started'
                ELSE 'in-progress' END AS status,
           NOT j.signed_off AND greatest($2::timestamptz, j.extension_until) < $3 AS overdue
      FROM joined j
      LEFT JOIN rm_organisations.organisations o ON o.organisation_id = j.organisation_id
), base AS MATERIALIZED (
    SELECT rows.*,
           ($4::text IS NULL OR region = $4) AS region_ok,
           ($5::text IS NULL OR kind = $5) AS kind_ok,
           ($7::text IS NULL OR code ILIKE $7 OR name ILIKE $7) AS search_ok,
           CASE $6::text WHEN 'overdue' THEN overdue
                         WHEN 'extended' THEN extension_until IS NOT NULL
                         WHEN 'reopened' THEN reopenings > 0
                         ELSE $6::text IS NULL OR status = $6 END AS status_ok
      FROM rows
)
"""

_STATUS_COUNTS = ", ".join(
    [f"'{s.value}', count(*) FILTER (WHERE status = '{s.value}')" for s in STAGES]
    + [
        "'overdue', count(*) FILTER (WHERE overdue)",
        "'extended', count(*) FILTER (WHERE extension_until IS NOT NULL)",
        "'reopened', count(*) FILTER (WHERE reopenings > 0)",
    ]
)
assert len(STAGES) + len(FLAGS) == len(ReturnStatus)

# The counts, the whole cycle's figures, the total and the page's rows, from one pass over
# `base`: one statement, so the grouping of every questionnaire in the cycle is done once.
_COUNTS = f"""
SELECT json_build_object(
    'status', (SELECT json_build_object({_STATUS_COUNTS})
                 FROM base WHERE region_ok AND kind_ok AND search_ok),
    'region', (SELECT coalesce(json_object_agg(region, n), '{{}}')
                 FROM (SELECT region, count(*) AS n FROM base
                        WHERE region IS NOT NULL AND kind_ok AND status_ok AND search_ok
                        GROUP BY region) x),
    'kind', (SELECT coalesce(json_object_agg(kind, n), '{{}}')
               FROM (SELECT kind, count(*) AS n FROM base
                      WHERE kind IS NOT NULL AND region_ok AND status_ok AND search_ok
                      GROUP BY kind) x),
    'summary', (SELECT json_build_object(
                    'organisations', count(*),
                    'signed_off', count(*) FILTER (WHERE status = 'signed-off'),
                    'issued', coalesce(sum(issued), 0),
                    'submitted', coalesce(sum(submitted), 0)) FROM base),
    'total', (SELECT count(*) FROM base WHERE region_ok AND kind_ok AND status_ok AND search_ok),
    'rows', (SELECT coalesce(json_agg(p), '[]') FROM page p)
) AS counts
"""

_RANK = "array_position(ARRAY['not-started','in-progress','submitted','signed-off'], status)"

#: Each sort's ORDER BY, ascending and descending; the code always breaks ties.
_ORDER: dict[SortKey, tuple[str, str]] = {
    SortKey.NAME: ("lower(name) NULLS LAST", "lower(name) DESC NULLS LAST"),
    SortKey.REGION: (
        "region NULLS LAST, lower(name)",
        "region DESC NULLS LAST, lower(name)",
    ),
    SortKey.STATUS: (f"{_RANK}, lower(name)", f"{_RANK} DESC, lower(name)"),
    SortKey.LAST_ACTIVITY: (
        "last_activity NULLS FIRST, lower(name)",
        "last_activity DESC NULLS LAST, lower(name)",
    ),
    SortKey.DEADLINE: ("deadline, lower(name)", "deadline DESC, lower(name)"),
}

_COLUMNS = (
    "organisation_id, code, name, kind, region, status, issued, submitted, signed_off_at,"
    " deadline, extension_until, reopenings, last_activity, overdue"
)


def _statement(sort: SortKey, descending: bool) -> str:
    order = _ORDER[sort][1 if descending else 0]
    page = (
        f", page AS (SELECT {_COLUMNS} FROM base"
        " WHERE region_ok AND kind_ok AND status_ok AND search_ok"
        f" ORDER BY {order}, code LIMIT $8 OFFSET $9)"
    )
    return _BASE.rstrip() + page + "\n" + _COUNTS


def search_pattern(search: str | None) -> str | None:
    """An ILIKE pattern that finds `search` anywhere, its own `%`, `_` and `\\` taken as
    they are."""
    if not search:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(r: dict[str, Any]) -> ParticipationRow:
    issued, submitted = r["issued"], r["submitted"]
    return ParticipationRow(
        organisation_id=r["organisation_id"],
        code=r["code"],
        name=r["name"],
        kind=r["kind"],
        region=r["region"],
        status=ReturnStatus(r["status"]),
        issued=issued,
        submitted=submitted,
        percent_complete=round(100.0 * submitted / issued, 1) if issued else None,
        signed_off_at=_time(r["signed_off_at"]),
        deadline=_time(r["deadline"]),
        extension_until=_time(r["extension_until"]),
        reopenings=r["reopenings"],
        last_activity=_time(r["last_activity"]),
        overdue=r["overdue"],
    )


class PostgresParticipation:
    """Reads `rm_progress` and `rm_organisations`, the live projections' schemas."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def page(self, query: ParticipationQuery, now: datetime) -> ParticipationPage | None:
        offset = (query.page - 1) * query.per_page
        return await self._read(query, now, query.per_page, offset)

    async def all_rows(self, query: ParticipationQuery, now: datetime) -> ParticipationPage | None:
        return await self._read(query, now, None, 0)

    async def _read(
        self, query: ParticipationQuery, now: datetime, limit: int | None, offset: int
    ) -> ParticipationPage | None:
        async with (
            self.pool.acquire() as conn,
            # One snapshot: the counts and the rows agree even while the projector commits.
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            cycle = await conn.fetchrow(
                "SELECT phase, data_entry_closes FROM rm_progress.prog_cycles WHERE cycle = $1",
                query.cycle,
            )
            if cycle is None:
                return None
            args: list[Any] = [
                query.cycle,
                cycle["data_entry_closes"],
                now,
                query.region,
                query.kind,
                query.status.value if query.status else None,
                search_pattern(query.search),
            ]
            found = orjson.loads(
                await conn.fetchval(_statement(query.sort, query.descending), *args, limit, offset)
            )
        return ParticipationPage(
            cycle=query.cycle,
            phase=cycle["phase"],
            data_entry_closes=cycle["data_entry_closes"],
            as_at=now,
            total=found["total"],
            rows=[_row(r) for r in found["rows"]],
            counts={k: found[k] for k in ("status", "region", "kind")},
            summary=found["summary"],
        )


#: The download's columns: (heading, how to read it from a row).
_CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Code", "code"),
    ("Name", "name"),
    ("Kind", "kind"),
    ("Region", "region"),
    ("Status", "status"),
    ("Questionnaires issued", "issued"),
    ("Questionnaires submitted", "submitted"),
    ("% complete", "percent_complete"),
    ("Signed off at", "signed_off_at"),
    ("Deadline", "deadline"),
    ("Extended until", "extension_until"),
    ("Overdue", "overdue"),
    ("Reopenings", "reopenings"),
    ("Last activity", "last_activity"),
)


def participation_csv(page: ParticipationPage) -> bytes:
    """The rows as one CSV table (a header line, then a line per organisation): times ISO
    8601, Yes/No for overdue, numbers bare, every text quoted and neutralised (`cells`)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([heading for heading, _ in _CSV_COLUMNS])
    for row in page.rows:
        values = []
        for _, attribute in _CSV_COLUMNS:
            value = getattr(row, attribute)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, bool):
                value = "Yes" if value else "No"
            elif isinstance(value, StrEnum):
                value = value.value
            values.append(csv_field(value))
        writer.writerow(values)
    return out.getvalue().encode("utf-8")
