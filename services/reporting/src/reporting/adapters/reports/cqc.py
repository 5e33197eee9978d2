"""NI 51 per LA partnership area, as the regulator (CQC) receives it (DESIGN §8)."""

from __future__ import annotations

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from .cycle_progress import cycle_row, moment, region_of

# Each LA area with the LA that names it (an LA's partnership area is its own; where several
# list one, the LA whose code it is, else the lowest code: 150 rows by the kind index), full-
# joined to the cycle's NI 51 rows (by the (cycle, area) index) with the signing organisation
# (by key), so an area some organisation signed NI 51 off for without being a registered LA
# is listed too and nothing signed off goes unseen. Scores are shown only while signed off:
# after a reopening they are not signed-off data any more. The cycle's close comes with every
# row rather than from a query of its own (a round trip costs ~85 us of the service's CPU and
# ~60 us of PostgreSQL's, of ~2.5 ms a national report). No rows means no such cycle, or a
# cycle with no areas yet: `cycle_row` tells which.
_AREAS = """
WITH cycle AS (
    SELECT data_entry_closes FROM prog_cycles WHERE cycle = $1
), la AS (
    SELECT DISTINCT ON (a.area) a.area, o.name, o.region
      FROM organisations o CROSS JOIN LATERAL unnest(o.partnership_areas) a(area)
     WHERE o.kind = 'local-authority'
     ORDER BY a.area, (o.code = a.area) DESC, o.code
), n AS (
    SELECT n.*, so.name AS organisation_name, so.region AS organisation_region
      FROM prog_ni51 n
      LEFT JOIN organisations so ON so.organisation_id = n.organisation_id
     WHERE n.cycle = $1
)
SELECT coalesce(la.area, n.area) AS area, la.name AS area_name,
       coalesce(la.region, n.organisation_region) AS region,
       CASE WHEN n.signed_off THEN 'signed off'
            WHEN n.area IS NOT NULL THEN 'reopened: not signed off'
            ELSE 'not signed off' END AS status,
       CASE WHEN n.signed_off THEN n.learning_disabilities END AS learning_disabilities,
       CASE WHEN n.signed_off THEN n.urgent_24_hour_cover END AS urgent_24_hour_cover,
       CASE WHEN n.signed_off THEN n.age_16_17 END AS age_16_17,
       CASE WHEN n.signed_off THEN n.early_intervention END AS early_intervention,
       CASE WHEN n.signed_off THEN n.score END AS score,
       CASE WHEN n.signed_off THEN n.signed_off_at END AS signed_off_at,
       CASE WHEN n.signed_off THEN n.signed_off_by END AS signed_off_by,
       n.organisation_id AS signed_off_by_organisation, n.organisation_name,
       CASE WHEN n.signed_off THEN n.signed_off_at <= cycle.data_entry_closes END AS on_time,
       n.first_signed_off_at, n.first_signed_off_at <= cycle.data_entry_closes AS first_on_time,
       n.reopened_at, cycle.data_entry_closes
  FROM la FULL JOIN n ON n.area = la.area CROSS JOIN cycle
 WHERE ($2::text IS NULL OR coalesce(la.region, n.organisation_region) = $2)
 ORDER BY 3 NULLS LAST, 1, n.organisation_id
"""


async def cqc_performance(conn: Connection, request: ReportRequest) -> ReportResult:
    """NI 51 per LA area: the four scores, the total, and the sign-off behind them."""
    region = region_of(request)
    rows = [dict(r) for r in await conn.fetch(_AREAS, request.cycle, region)]
    if rows:
        close = rows[0]["data_entry_closes"]
        for row in rows:
            del row["data_entry_closes"]
    else:  # no such cycle (404; no cycle asked: 422), or no areas in it yet
        close = (await cycle_row(conn, request))["data_entry_closes"]
    signed = [r for r in rows if r["status"] == "signed off"]
    return ReportResult(
        tables=[
            Table(
                "areas",
                "NI 51 by LA area",
                [
                    Column("area", "Area"),
                    Column("area_name", "Local authority"),
                    Column("region", "Region"),
                    Column("learning_disabilities", "Learning disabilities (1-4)"),
                    Column("urgent_24_hour_cover", "24-hour urgent cover (1-4)"),
                    Column("age_16_17", "Services for 16-17 year olds (1-4)"),
                    Column("early_intervention", "Early intervention (1-4)"),
                    Column("score", "NI 51 score (4-16)"),
                    Column("status", "Status"),
                    Column("signed_off_at", "Signed off at"),
                    Column("signed_off_by", "Signed off by"),
                    Column("signed_off_by_organisation", "Signing organisation"),
                    Column("organisation_name", "Organisation name"),
                    Column("on_time", "Signed off by the close"),
                    Column("first_signed_off_at", "First signed off at"),
                    Column("first_on_time", "First sign-off by the close"),
                    Column("reopened_at", "Reopened at"),
                ],
                rows,
            ),
        ],
        summary={
            "areas": len({r["area"] for r in rows}),
            "signed_off": len(signed),
            "on_time": sum(1 for r in signed if r["on_time"]),
            "late": sum(1 for r in signed if not r["on_time"]),
            "reopened": sum(1 for r in rows if r["status"].startswith("reopened")),
            "not_signed_off": sum(1 for r in rows if r["status"] == "not signed off"),
            "data_entry_closes": close,
        },
        about={"as_at": moment(request), "region": region},
    )


REPORTS = [
    Report(
        name="cqc-performance",
        title="NI 51 performance data (CQC)",
        description="NI 51 per LA partnership area as signed off: the four scores (1-4) and "
        "their sum (4-16), who signed them off and when, and whether by the close of data entry "
        "(an extension does not move the regulator's deadline). A return reopened since is "
        "shown as not signed off, without scores, until it is signed off again; areas with no "
        "sign-off are listed too.",
        options="`region` narrows it to one region.",
        projections=("progress", "organisations"),
        scope=Scope.NATIONAL,
        query=cqc_performance,
        leads_may_read=False,
    ),
]
