"""The register of organisations, filterable by kind and region."""

from __future__ import annotations

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table


async def organisations(conn: Connection, request: ReportRequest) -> ReportResult:
    rows = await conn.fetch(
        """
        SELECT organisation_id, code, name, kind, region, partnership_areas, lead_name,
               registered_at
          FROM organisations
         WHERE ($1::text IS NULL OR region = $1)
           AND ($2::text IS NULL OR kind = $2)
         ORDER BY code
        """,
        request.region,
        request.search,
    )
    return ReportResult(
        tables=[
            Table(
                "organisations",
                "Organisations",
                [
                    Column("code", "Code"),
                    Column("name", "Name"),
                    Column("kind", "Kind"),
                    Column("region", "Region"),
                    Column("partnership_areas", "Partnership areas"),
                    Column("lead_name", "Mapping lead"),
                    Column("registered_at", "Registered"),
                ],
                [dict(r) for r in rows],
            )
        ],
        summary={"organisations": len(rows)},
    )


REPORTS = [
    Report(
        name="organisations",
        title="Organisations",
        description="Every registered organisation, by region and kind.",
        options="`q` filters by kind.",
        projections=("organisations",),
        scope=Scope.NATIONAL,
        query=organisations,
        needs_cycle=False,
        leads_may_read=False,
    ),
]
