"""The annual report: national aggregates per cycle, year on year."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.measures import FUNDING_SOURCES, PROFESSIONS, change, year_before
from .locality_profile import (
    SERVICE_MEASURES,
    Totals,
    breakdown_rows,
    compare_table,
    require_cycle,
    service_totals,
)

_ORGANISATIONS = """
SELECT c.cycle,
       (SELECT count(*) FROM responses_organisation_cycles r
         WHERE r.cycle = c.cycle AND r.owed > 0) AS issued,
       (SELECT count(*) FROM responses_organisation_cycles r
         WHERE r.cycle = c.cycle AND r.submitted > 0) AS submitted,
       (SELECT count(*) FROM responses_returns s
         WHERE s.cycle = c.cycle AND s.signed_off) AS signed_off
  FROM unnest($1::text[]) AS c(cycle)
"""


async def _cycles(conn: Connection, request: ReportRequest) -> tuple[list[str], dict[str, str]]:
    """The cycles to report (ascending) and each one's previous cycle."""
    scheduled = {
        r["cycle"]: r["previous_cycle"]
        for r in await conn.fetch("SELECT cycle, previous_cycle FROM responses_cycles")
    }
    if request.cycle is not None:
        cycle, _ = await require_cycle(conn, request)
        cycles = [cycle]
    else:
        seen = await conn.fetch("SELECT DISTINCT cycle FROM responses_organisation_cycles")
        cycles = sorted(set(scheduled) | {r["cycle"] for r in seen})
    previous = {c: scheduled.get(c) or year_before(c) for c in cycles}
    return cycles, previous


def _year_on_year(
    name: str,
    title: str,
    heading: str,
    rows: Sequence[tuple[str, str]],
    cycles: Sequence[str],
    previous: dict[str, str],
    totals: dict[str, Totals],
    measures: Sequence[tuple[str, str]] = (("", "Value"),),
) -> Table:
    """One comparison table per cycle, stacked with a cycle column (reads well in CSV)."""
    out: list[dict[str, Any]] = []
    columns: list[Column] = []
    for cycle in cycles:
        table = compare_table(
            name, title, heading, rows, totals.get(cycle), totals.get(previous[cycle]), measures
        )
        columns = [Column("cycle", "Cycle"), *table.columns]
        out += [{"cycle": cycle, **row} for row in table.rows]
    return Table(name, title, columns, out)


async def annual_report(conn: Connection, request: ReportRequest) -> ReportResult:
    """Services, investment by source, workforce by profession, level of need, CAMHS by tier
    and organisations' participation per cycle, each against the previous cycle."""
    cycles, previous = await _cycles(conn, request)
    wanted = sorted(set(cycles) | set(previous.values()))
    totals = await service_totals(conn, wanted)
    orgs = {r["cycle"]: r for r in await conn.fetch(_ORGANISATIONS, wanted)}
    overview = []
    for cycle in cycles:
        now, before = totals.get(cycle), totals.get(previous[cycle])
        row: dict[str, Any] = {"cycle": cycle, "previous_cycle": previous[cycle]}
        for measure, key in (
            ("services", "total:services"),
            ("investment", "total:investment"),
            ("wte", "total:wte"),
        ):
            row[measure] = now[key] if now else 0
            row[f"{measure}_change"] = change(row[measure], before[key] if before else None)
        for measure in ("issued", "submitted", "signed_off"):
            this, last = orgs[cycle][measure], orgs[previous[cycle]][measure]
            row[f"organisations_{measure}"] = this
            # No organisation owed anything in the previous cycle: nothing to compare with.
            had_previous = orgs[previous[cycle]]["issued"] > 0
            row[f"organisations_{measure}_change"] = this - last if had_previous else None
        overview.append(row)
    tables = [
        Table(
            "overview",
            "Year on year",
            [
                Column("cycle", "Cycle"),
                Column("previous_cycle", "Previous cycle"),
                Column("services", "Services submitted"),
                Column("services_change", "Change"),
                Column("investment", "Investment (£)"),
                Column("investment_change", "Change"),
                Column("wte", "WTE"),
                Column("wte_change", "Change"),
                Column("organisations_issued", "Organisations owing questionnaires"),
                Column("organisations_issued_change", "Change"),
                Column("organisations_submitted", "Organisations that submitted"),
                Column("organisations_submitted_change", "Change"),
                Column("organisations_signed_off", "Organisations signed off"),
                Column("organisations_signed_off_change", "Change"),
            ],
            overview,
        ),
        _year_on_year(
            "investment_by_source",
            "Investment by funding source (£)",
            "Funding source",
            [
                *((f"source:{q}", label) for q, label in FUNDING_SOURCES),
                ("total:investment", "Total"),
            ],
            cycles,
            previous,
            totals,
        ),
        _year_on_year(
            "workforce",
            "Workforce by profession (WTE)",
            "Profession",
            [*((f"profession:{q}", label) for q, label in PROFESSIONS), ("total:wte", "Total")],
            cycles,
            previous,
            totals,
        ),
        _year_on_year(
            "level_of_need",
            "Services by level of need",
            "Level of need",
            breakdown_rows("need"),
            cycles,
            previous,
            totals,
            SERVICE_MEASURES,
        ),
        _year_on_year(
            "camhs_by_tier",
            "CAMHS by tier",
            "Tier",
            breakdown_rows("tier"),
            cycles,
            previous,
            totals,
            SERVICE_MEASURES,
        ),
    ]
    latest = overview[-1] if overview else None
    return ReportResult(
        tables=tables,
        summary={
            "cycles": len(cycles),
            "latest_cycle": latest["cycle"] if latest else None,
            "services": latest["services"] if latest else 0,
            "investment": latest["investment"] if latest else 0,
            "wte": latest["wte"] if latest else 0,
            "organisations_submitted": latest["organisations_submitted"] if latest else 0,
            "organisations_signed_off": latest["organisations_signed_off"] if latest else 0,
        },
    )


REPORTS = [
    Report(
        name="annual-report",
        title="Annual report",
        description=(
            "National figures per cycle, year on year: services, investment by funding source,"
            " workforce by profession, services by level of need, CAMHS by tier, and how many"
            " organisations owed, submitted and signed off, each against the previous cycle"
            " (as scheduled, else the cycle a year earlier). Figures are from current"
            " submissions; give a cycle for that cycle alone."
        ),
        projections=("responses",),
        scope=Scope.NATIONAL,
        query=annual_report,
        needs_cycle=False,
        leads_may_read=False,
    ),
]
