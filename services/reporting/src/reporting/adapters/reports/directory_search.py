"""The directory of services for local users: searchable, for the current or a past cycle."""

from __future__ import annotations

import json

from csm_contracts.auth import Role
from csm_kernel.database import Connection
from csm_kernel.errors import NotFound

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ..projections.directory import SEARCH_VECTOR
from .cycle_progress import organisation_row, region_of

_VECTOR = SEARCH_VECTOR.replace("name", "s.name").replace("description", "s.description")

# Full-text match (stemmed, so "counsellor" finds "counselling"), or a plain substring of the
# name for codes and fragments full-text search does not see. Fields that differ from the
# record it was carried from are compared here rather than read from the revisions, so a
# field changed and changed back does not count as changed.
_SERVICES = f"""
SELECT s.service_id, s.name, s.description, s.service_type, s.age_min, s.age_max, s.needs,
       s.camhs, s.camhs_tier, s.group_id, s.provider_id, p.name AS provider_name,
       p.region AS provider_region, s.commissioner_ids, s.contact_name, s.contact_email,
       s.contact_phone, s.status, s.origin, s.checked_at IS NOT NULL AS checked, s.checked_at,
       s.previous_cycle AS carried_from_cycle, s.previous_service_id AS carried_from_service,
       s.changes,
       CASE WHEN prev.service_id IS NULL THEN NULL ELSE array_remove(ARRAY[
           CASE WHEN s.name IS DISTINCT FROM prev.name THEN 'name' END,
           CASE WHEN s.description IS DISTINCT FROM prev.description THEN 'description' END,
           CASE WHEN s.service_type IS DISTINCT FROM prev.service_type THEN 'service_type' END,
           CASE WHEN s.age_min IS DISTINCT FROM prev.age_min THEN 'client_group.age_min' END,
           CASE WHEN s.age_max IS DISTINCT FROM prev.age_max THEN 'client_group.age_max' END,
           CASE WHEN s.needs IS DISTINCT FROM prev.needs THEN 'client_group.needs' END,
           CASE WHEN s.camhs IS DISTINCT FROM prev.camhs THEN 'camhs' END,
           CASE WHEN s.camhs_tier IS DISTINCT FROM prev.camhs_tier THEN 'camhs_tier' END,
           CASE WHEN s.group_id IS DISTINCT FROM prev.group_id THEN 'group_id' END,
           CASE WHEN s.commissioner_ids IS DISTINCT FROM prev.commissioner_ids
                THEN 'commissioner_ids' END,
           CASE WHEN s.contact_name IS DISTINCT FROM prev.contact_name THEN 'contact.name' END,
           CASE WHEN s.contact_email IS DISTINCT FROM prev.contact_email THEN 'contact.email' END,
           CASE WHEN s.contact_phone IS DISTINCT FROM prev.contact_phone THEN 'contact.phone' END
       ], NULL) END AS changed_since_last_year,
       CASE WHEN $2::text IS NULL THEN 0
            ELSE ts_rank({_VECTOR}, websearch_to_tsquery('english', $2)) END AS rank
  FROM dir_services s
  LEFT JOIN organisations p ON p.organisation_id = s.provider_id
  LEFT JOIN dir_services prev ON prev.service_id = s.previous_service_id
 WHERE s.cycle = $1 AND s.status <> 'withdrawn'
   AND ($2::text IS NULL OR {_VECTOR} @@ websearch_to_tsquery('english', $2)
        OR s.name ILIKE $5)
   AND ($3::text IS NULL OR p.region = $3)
   AND ($4::text IS NULL OR s.provider_id = $4 OR $4 = ANY(s.commissioner_ids))
 ORDER BY rank DESC, s.name, s.service_id
"""


def _like(search: str | None) -> str | None:
    """An ILIKE pattern matching `search` literally anywhere."""
    if search is None:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def directory(conn: Connection, request: ReportRequest) -> ReportResult:
    """The cycle's services (not withdrawn), matching the search and filters."""
    known = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM dir_services WHERE cycle = $1)"
        " OR EXISTS (SELECT 1 FROM prog_cycles WHERE cycle = $1)",
        request.cycle,
    )
    if not known:
        raise NotFound(f"no cycle {request.cycle}")
    region = region_of(request)
    org = await organisation_row(conn, request) if request.organisation else None
    search = (request.search or "").strip() or None
    rows = []
    for record in await conn.fetch(
        _SERVICES,
        request.cycle,
        search,
        region,
        org["organisation_id"] if org else None,
        _like(search),
    ):
        row = dict(record)
        row.pop("rank")
        revisions = json.loads(row.pop("changes"))
        row["revised_fields"] = sorted({c["field"] for c in revisions} - {"status"})
        row["ages"] = f"{row['age_min']}-{row['age_max']}"
        rows.append(row)
    withdrawn = await conn.fetchval(
        "SELECT count(*) FROM dir_services WHERE cycle = $1 AND status = 'withdrawn'",
        request.cycle,
    )
    return ReportResult(
        tables=[
            Table(
                "services",
                "Services",
                [
                    Column("name", "Service"),
                    Column("description", "Description"),
                    Column("service_type", "Type"),
                    Column("ages", "Ages"),
                    Column("needs", "Needs"),
                    Column("camhs", "CAMHS"),
                    Column("camhs_tier", "CAMHS tier"),
                    Column("group_id", "Group"),
                    Column("provider_id", "Provider"),
                    Column("provider_name", "Provider name"),
                    Column("provider_region", "Region"),
                    Column("commissioner_ids", "Commissioners"),
                    Column("contact_name", "Contact"),
                    Column("contact_email", "Email"),
                    Column("contact_phone", "Phone"),
                    Column("status", "Status"),
                    Column("checked", "Checked"),
                    Column("checked_at", "Checked at"),
                    Column("carried_from_cycle", "Carried from"),
                    Column("changed_since_last_year", "Changed since last year"),
                    Column("revised_fields", "Revised this cycle"),
                    Column("service_id", "Service id"),
                    Column("carried_from_service", "Last year's service id"),
                ],
                rows,
            ),
        ],
        summary={
            "services": len(rows),
            "new_this_cycle": sum(1 for r in rows if r["origin"] == "registered"),
            "carried_forward": sum(1 for r in rows if r["origin"] == "carried-forward"),
            "unchecked": sum(1 for r in rows if not r["checked"]),
            "withdrawn_in_cycle": withdrawn,
        },
        about={"search": search, "region": region, "organisation": org["code"] if org else None},
    )


REPORTS = [
    Report(
        name="directory",
        title="Directory of services",
        description="The cycle's services (withdrawn ones left out): what each is, who "
        "provides and commissions it, how to contact it, whether last year's record was "
        "checked, and what changed since last year. Search names and descriptions by "
        'words, "phrases" and -exclusions, or by part of a name.',
        options="`q` searches names and descriptions "
        '(words, "phrases", -exclusions; or part of a name); `region` filters by the '
        "provider's region, `organisation` by provider or commissioner.",
        projections=("directory", "organisations", "progress"),
        scope=Scope.NATIONAL,
        query=directory,
        roles=frozenset(
            {Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR, Role.MAPPING_LEAD, Role.GROUP_OWNER}
        ),
    ),
]
