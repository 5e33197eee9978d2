"""The locality profile: the services mapped in an LA partnership area and the money, against
the previous cycle; and the list of those services (its own report: an area has hundreds).
Also the area and cycle helpers the other area reports share.

A service belongs to an area through its provider: it counts in every area its provider
organisation covers (the organisation's partnership areas as registration has them now, or
at the as-at moment). Figures come from current service submissions only, added up per
provider and cycle by the responses projection (`responses_provider_totals`), so an area's
figures are the sums of its few providers' rows. The "previous cycle" is the one the journal's
CycleScheduled names, or else the cycle one year earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from csm_kernel.database import Connection
from csm_kernel.errors import InvalidInput, NotFound

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.measures import (
    BREAKDOWNS,
    FUNDING_SOURCES,
    INDEPENDENT_SECTORS,
    PROFESSIONS,
    SERVICE,
    TOTALS,
    change,
    is_cycle,
    year_before,
)

Totals = Mapping[str, Any]

# --- shared by the area and national reports ------------------------------------------------


async def require_cycle(conn: Connection, request: ReportRequest) -> tuple[str, str]:
    """The requested cycle and its previous cycle; NotFound for a cycle nobody has heard of."""
    cycle = request.cycle
    if cycle is None:
        raise InvalidInput.field("cycle", "this report needs a cycle, e.g. 2009-10")
    if not is_cycle(cycle):
        raise InvalidInput.field("cycle", f"{cycle!r} is not a cycle like 2009-10")
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM responses_cycles WHERE cycle = $1)"
        " OR EXISTS (SELECT 1 FROM responses WHERE cycle = $1) AS known,"
        " (SELECT previous_cycle FROM responses_cycles WHERE cycle = $1) AS previous",
        cycle,
    )
    if row is None or not row["known"]:
        raise NotFound(f"no cycle {cycle}")
    return cycle, str(row["previous"]) if row["previous"] else year_before(cycle)


async def previous_cycle(conn: Connection, cycle: str) -> str:
    """The cycle before `cycle`: as scheduled, or else by name one year earlier."""
    named = await conn.fetchval(
        "SELECT previous_cycle FROM responses_cycles WHERE cycle = $1", cycle
    )
    return str(named) if named else year_before(cycle)


# Each with its services mapped (not cancelled) in the cycle: the locality profile's count,
# in the same round trip.
_AREA_ORGANISATIONS = """
SELECT o.organisation_id, o.code, o.name, o.kind, coalesce(c.services, 0) AS services
  FROM organisations o
  LEFT JOIN responses_organisation_cycles c
    ON c.organisation_id = o.organisation_id AND c.cycle = $2
 WHERE o.partnership_areas @> ARRAY[$1::text] ORDER BY o.code
"""


async def area_organisations(
    conn: Connection, request: ReportRequest, cycle: str
) -> list[Mapping[str, Any]]:
    """The organisations covering the requested area (NotFound when none does), each with
    the `services` it mapped in `cycle`."""
    area = request.area
    if not area:
        raise InvalidInput.field("area", "this report needs an LA partnership area code")
    rows = await conn.fetch(_AREA_ORGANISATIONS, area, cycle)
    if not rows:
        raise NotFound(f"no area {area} in cycle {cycle}")
    return [dict(r) for r in rows]


def area_name(area: str, organisations: Sequence[Mapping[str, Any]]) -> str | None:
    """The area's name: its local authority's (the LA's code is its area's code)."""
    for org in organisations:
        if org["kind"] == "local-authority" and org["code"] == area:
            return str(org["name"])
    las = [o for o in organisations if o["kind"] == "local-authority"]
    return str(las[0]["name"]) if las else None


async def area_keys(conn: Connection, request: ReportRequest) -> list[str]:
    """As-at needs only the area's organisations' events, and the national cycle events."""
    rows = await conn.fetch(
        "SELECT organisation_id FROM organisations WHERE partnership_areas @> ARRAY[$1::text]",
        request.area or "",
    )
    return [*(r["organisation_id"] for r in rows), "NATIONAL"]


_TOTALS = ",\n       ".join(f'sum({column}) AS "{key}"' for key, column, _, _ in TOTALS)


async def service_totals(
    conn: Connection,
    cycles: Sequence[str],
    organisation_ids: Sequence[str] | None = None,
    *,
    camhs_only: bool = False,
) -> dict[str, Totals]:
    """Current service submissions added up per cycle (only cycles with any), for the given
    providers or nationally, optionally CAMHS services only: the sums of the providers'
    totals, or the national totals per cycle."""
    # Two statement texts rather than "$2 IS NULL OR ...": a generic plan for the OR form
    # would scan every provider for an area's few.
    where = ["cycle = ANY($1::text[])", "camhs_only" if camhs_only else "NOT camhs_only"]
    args: list[Any] = [list(cycles)]
    table = "responses_cycle_totals"
    if organisation_ids is not None:
        table = "responses_provider_totals"
        where.append("organisation_id = ANY($2::text[])")
        args.append(list(organisation_ids))
    rows = await conn.fetch(
        f"SELECT cycle, {_TOTALS}\n  FROM {table}\n WHERE {' AND '.join(where)}\n GROUP BY cycle",
        *args,
    )
    return {r["cycle"]: dict(r) for r in rows}


#: The three things counted for each category of service.
SERVICE_MEASURES = (("services", "Services"), ("investment", "Investment (£)"), ("wte", "WTE"))


def compare_table(
    name: str,
    title: str,
    heading: str,
    rows: Sequence[tuple[str, str]],
    now: Totals | None,
    before: Totals | None,
    measures: Sequence[tuple[str, str]] = (("", "Value"),),
) -> Table:
    """A table of categories (`rows`: (key prefix, label)) with each measure this cycle, the
    previous cycle and the change. A measure "" reads the key itself; figures are zero when
    the cycle has no submissions and unknown (None) when the previous cycle has none."""
    columns = [Column("category", heading)]
    for measure, label in measures:
        suffix = f"_{measure}" if measure else ""
        columns += [
            Column(f"value{suffix}", label),
            Column(f"previous{suffix}", f"{label}, previous cycle"),
            Column(f"change{suffix}", f"{label}, change"),
        ]
    out = []
    for key, label in rows:
        row: dict[str, Any] = {"category": label}
        for measure, _ in measures:
            suffix = f"_{measure}" if measure else ""
            full = f"{key}:{measure}" if measure else key
            value = now[full] if now is not None else 0
            previous = before[full] if before is not None else None
            row[f"value{suffix}"] = value
            row[f"previous{suffix}"] = previous
            row[f"change{suffix}"] = change(value, previous)
        out.append(row)
    return Table(name, title, columns, out)


def breakdown_rows(key: str) -> list[tuple[str, str]]:
    """The (key prefix, label) rows of one breakdown: need, tier or sector."""
    for name, _, categories in BREAKDOWNS:
        if name == key:
            return [(f"{key}:{value}", label) for value, label in categories]
    raise KeyError(key)


def headline(now: Totals | None, before: Totals | None, key: str, name: str) -> dict[str, Any]:
    """One headline figure for a summary, flat (`name`, `name_previous`, `name_change`) so
    it reads the same in JSON, CSV and XLSX."""
    value = now[key] if now is not None else 0
    previous = before[key] if before is not None else None
    return {name: value, f"{name}_previous": previous, f"{name}_change": change(value, previous)}


# --- the locality profile -------------------------------------------------------------------


async def locality_profile(conn: Connection, request: ReportRequest) -> ReportResult:
    """Services mapped in the area, by level of need, CAMHS tier and provider sector, with
    investment by funding source and workforce by profession, against the previous cycle."""
    cycle, previous = await require_cycle(conn, request)
    organisations = await area_organisations(conn, request, cycle)
    ids = [o["organisation_id"] for o in organisations]
    totals = await service_totals(conn, [cycle, previous], ids)
    now, before = totals.get(cycle), totals.get(previous)
    mapped = sum(o["services"] for o in organisations)
    tables = [
        compare_table(
            "level_of_need",
            "Services by level of need",
            "Level of need",
            breakdown_rows("need"),
            now,
            before,
            SERVICE_MEASURES,
        ),
        compare_table(
            "investment_by_source",
            "Investment by funding source (£)",
            "Funding source",
            [
                *((f"source:{q}", label) for q, label in FUNDING_SOURCES),
                ("total:investment", "Total"),
            ],
            now,
            before,
        ),
        compare_table(
            "camhs_by_tier",
            "CAMHS by tier",
            "Tier",
            breakdown_rows("tier"),
            now,
            before,
            SERVICE_MEASURES,
        ),
        compare_table(
            "workforce",
            "Workforce by profession (WTE)",
            "Profession",
            [*((f"profession:{q}", label) for q, label in PROFESSIONS), ("total:wte", "Total")],
            now,
            before,
        ),
        compare_table(
            "provider_sector",
            "Services by provider sector",
            "Provider sector",
            breakdown_rows("sector"),
            now,
            before,
            SERVICE_MEASURES,
        ),
    ]
    independent = {
        m: sum((now[f"sector:{s}:{m}"] for s in INDEPENDENT_SECTORS), 0) if now else 0
        for m in ("services", "investment", "wte")
    }
    independent_before = (
        {m: sum((before[f"sector:{s}:{m}"] for s in INDEPENDENT_SECTORS), 0) for m in independent}
        if before
        else None
    )
    summary: dict[str, Any] = {
        "services_mapped": mapped,
        "services_submitted": now["total:services"] if now else 0,
        **headline(now, before, "total:services", "services"),
        **headline(now, before, "total:investment", "investment"),
        **headline(now, before, "total:wte", "wte"),
    }
    for m in independent:
        summary |= headline(independent, independent_before, m, f"third_and_private_{m}")
    return ReportResult(
        tables=tables,
        summary=summary,
        about={
            "area_name": area_name(request.area or "", organisations),
            "previous_cycle": previous,
            "organisations": [o["code"] for o in organisations],
        },
    )


# --- the area's services, listed --------------------------------------------------------------

_SERVICE_LIST = f"""
SELECT r.subject_id AS service_id, regexp_replace(r.title, '^Service: ', '') AS service,
       o.code AS provider_code, o.name AS provider, o.kind AS provider_kind,
       CASE WHEN r.current THEN 'submitted' WHEN r.status = 'withdrawn' THEN 'withdrawn'
            ELSE 'not submitted' END AS status,
       m.level_of_need, m.provider_sector, m.camhs, m.camhs_tier,
       m.investment_total, m.wte_total
  FROM responses r
  JOIN organisations o ON o.organisation_id = r.organisation_id
  LEFT JOIN responses_service_measures m ON m.questionnaire_id = r.questionnaire_id
 WHERE r.organisation_id = ANY($1::text[]) AND r.cycle = $2
   AND r.definition_id = '{SERVICE}' AND r.status <> 'cancelled'
 ORDER BY o.code, service, r.subject_id
"""


async def locality_services(conn: Connection, request: ReportRequest) -> ReportResult:
    """Every service mapped in the area (its questionnaire not cancelled), with its provider,
    whether its submission stands, its classification and its totals."""
    cycle, _ = await require_cycle(conn, request)
    organisations = await area_organisations(conn, request, cycle)
    ids = [o["organisation_id"] for o in organisations]
    services = [dict(r) for r in await conn.fetch(_SERVICE_LIST, ids, cycle)]
    return ReportResult(
        tables=[
            Table(
                "services",
                "Services mapped in the area",
                [
                    Column("service", "Service"),
                    Column("service_id", "Service id"),
                    Column("provider", "Provider"),
                    Column("provider_code", "Provider code"),
                    Column("status", "Submission"),
                    Column("level_of_need", "Level of need"),
                    Column("provider_sector", "Provider sector"),
                    Column("camhs_tier", "CAMHS tier"),
                    Column("investment_total", "Investment (£)"),
                    Column("wte_total", "WTE"),
                ],
                services,
            )
        ],
        summary={
            "services_mapped": len(services),
            "services_submitted": sum(1 for s in services if s["status"] == "submitted"),
        },
        about={
            "area_name": area_name(request.area or "", organisations),
            "organisations": [o["code"] for o in organisations],
        },
    )


REPORTS = [
    Report(
        name="locality-profile",
        title="Locality profile",
        description=(
            "The services mapped in an LA partnership area and the money spent on them:"
            " services by level of need, investment by funding source and CAMHS tier, workforce"
            " by profession, and the third and private sectors' contribution, each against the"
            " previous cycle (as scheduled, else the cycle a year earlier), with how many"
            " services are mapped and submitted. A service counts in every area its provider"
            " organisation covers; figures are from current submissions. The services"
            " themselves are listed in “Services mapped in an area”."
        ),
        see_also=("locality-services",),
        projections=("organisations", "responses"),
        scope=Scope.AREA,
        query=locality_profile,
        as_at_keys=area_keys,
    ),
    Report(
        name="locality-services",
        title="Services mapped in an area",
        description=(
            "Every service mapped in an LA partnership area in a cycle (its questionnaire not"
            " cancelled): provider, whether its submission stands (submitted, withdrawn or not"
            " submitted), level of need, provider sector, CAMHS tier, investment and WTE. A"
            " service counts in every area its provider organisation covers. The area's"
            " figures are in “Locality profile”."
        ),
        see_also=("locality-profile",),
        projections=("organisations", "responses"),
        scope=Scope.AREA,
        query=locality_services,
        as_at_keys=area_keys,
    ),
]
