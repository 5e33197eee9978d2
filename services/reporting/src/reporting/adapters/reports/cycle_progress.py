"""Participation in a cycle: per region and organisation (national team), and one
organisation's questionnaires (its mapping lead's dashboard).

Also the helpers the other progress-based reports share (cycle and organisation look-ups,
the deadline, "now" for as-at)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from csm_contracts.auth import Role
from csm_contracts.events.registration import Region
from csm_kernel.database import Connection
from csm_kernel.errors import InvalidInput, NotFound

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table

#: Questionnaire statuses, in the order people read them.
STATUSES = ("not-started", "in-progress", "delegated", "returned", "submitted", "cancelled")


def moment(request: ReportRequest) -> datetime:
    """The time the report speaks for: the as-at moment, or now."""
    return request.as_at or datetime.now(UTC)


def days_until(deadline: datetime | None, now: datetime) -> int | None:
    """Whole days from `now` to `deadline` (negative once passed), as the questionnaire
    service counts them (the days of the difference, rounded down)."""
    return None if deadline is None else (deadline - now).days


async def cycle_row(conn: Connection, request: ReportRequest) -> asyncpg.Record:
    """The requested cycle's row in `prog_cycles`, or NotFound."""
    if request.cycle is None:
        raise InvalidInput.field("cycle", "say which cycle, e.g. 2009-10")
    row = await conn.fetchrow("SELECT * FROM prog_cycles WHERE cycle = $1", request.cycle)
    if row is None:
        raise NotFound(f"no cycle {request.cycle}")
    return row


def region_of(request: ReportRequest) -> str | None:
    """The requested region, checked against the nine (None: all)."""
    if request.region is not None and request.region not in {r.value for r in Region}:
        raise InvalidInput.field("region", f"{request.region!r} is not one of the nine regions")
    return request.region


async def organisation_row(conn: Connection, request: ReportRequest) -> dict[str, Any]:
    """The requested organisation (by id or code), or NotFound. An organisation registration
    has not announced but which owes questionnaires in the cycle is still known, by code."""
    if request.organisation is None:
        raise InvalidInput.field("organisation", "say which organisation")
    row = await conn.fetchrow(
        "SELECT organisation_id, code, name, kind, region FROM organisations"
        " WHERE organisation_id = $1 OR code = $1 ORDER BY organisation_id = $1 DESC LIMIT 1",
        request.organisation,
    )
    if row is not None:
        return dict(row)
    owes = await conn.fetchval(
        "SELECT true FROM prog_questionnaires WHERE organisation_id = $1 LIMIT 1",
        request.organisation,
    )
    if not owes:
        raise NotFound(f"no organisation {request.organisation}")
    return {
        "organisation_id": request.organisation,
        "code": request.organisation,
        "name": None,
        "kind": None,
        "region": None,
    }


async def organisation_keys(conn: Connection, request: ReportRequest) -> Sequence[str] | None:
    """An organisation report's as-at replay needs that organisation's events and the
    national cycle events only."""
    return [request.organisation or "", "NATIONAL"]


def percent(part: int, whole: int) -> float | None:
    """`part` of `whole` as a percentage to one decimal (None when there is no whole)."""
    return round(100.0 * part / whole, 1) if whole else None


# One region's organisations only ($3), if asked: filtered before aggregating.
_IN_REGION = (
    "($3::text IS NULL OR organisation_id IN "
    "(SELECT organisation_id FROM organisations WHERE region = $3))"
)

# Per organisation in the cycle: its questionnaires by status and its return.
_BY_ORGANISATION = f"""
WITH q AS (
    SELECT organisation_id,
           count(*) FILTER (WHERE status <> 'cancelled') AS issued,
           count(*) FILTER (WHERE status = 'not-started') AS not_started,
           count(*) FILTER (WHERE status = 'in-progress') AS in_progress,
           count(*) FILTER (WHERE status = 'delegated') AS delegated,
           count(*) FILTER (WHERE status = 'returned') AS returned,
           count(*) FILTER (WHERE status = 'submitted') AS submitted,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled
      FROM prog_questionnaires WHERE cycle = $1 AND {_IN_REGION} GROUP BY organisation_id
), who AS (
    SELECT organisation_id FROM q
    UNION SELECT organisation_id FROM prog_returns WHERE cycle = $1 AND {_IN_REGION}
)
SELECT w.organisation_id, coalesce(o.code, w.organisation_id) AS code,
       coalesce(o.name, r.organisation_name) AS name, o.kind, o.region,
       coalesce(q.issued, 0) AS issued, coalesce(q.not_started, 0) AS not_started,
       coalesce(q.in_progress, 0) AS in_progress, coalesce(q.delegated, 0) AS delegated,
       coalesce(q.returned, 0) AS returned, coalesce(q.submitted, 0) AS submitted,
       coalesce(q.cancelled, 0) AS cancelled,
       coalesce(r.signed_off, false) AS signed_off,
       CASE WHEN r.signed_off THEN r.last_signed_off_at END AS signed_off_at,
       r.extension_until, r.extension_reason, coalesce(r.reopenings, 0) AS reopenings,
       r.last_reopened_at,
       greatest($2::timestamptz, r.extension_until) AS deadline
  FROM who w
  LEFT JOIN q ON q.organisation_id = w.organisation_id
  LEFT JOIN prog_returns r ON r.cycle = $1 AND r.organisation_id = w.organisation_id
  LEFT JOIN organisations o ON o.organisation_id = w.organisation_id
 WHERE ($3::text IS NULL OR o.region = $3)
 ORDER BY o.region NULLS LAST, code
"""

_COUNTS = ("issued", "delegated", "returned", "submitted")


async def cycle_progress(conn: Connection, request: ReportRequest) -> ReportResult:
    """Per region and organisation: questionnaires by status, sign-off and deadline."""
    cycle = await cycle_row(conn, request)
    region = region_of(request)
    now = moment(request)
    rows = [
        dict(r)
        for r in await conn.fetch(
            _BY_ORGANISATION, request.cycle, cycle["data_entry_closes"], region
        )
    ]
    for row in rows:
        row["percent_complete"] = percent(row["submitted"], row["issued"])
        row["days_to_deadline"] = days_until(row["deadline"], now)
        row["submitted_everything"] = row["issued"] > 0 and row["submitted"] == row["issued"]
    regions: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        total = regions.setdefault(
            row["region"],
            {
                "region": row["region"],
                "organisations": 0,
                "organisations_submitted": 0,
                "signed_off": 0,
                "extended": 0,
                "reopenings": 0,
                **dict.fromkeys(_COUNTS, 0),
            },
        )
        total["organisations"] += 1
        total["organisations_submitted"] += int(row["submitted_everything"])
        total["signed_off"] += int(row["signed_off"])
        total["extended"] += int(row["extension_until"] is not None)
        total["reopenings"] += row["reopenings"]
        for key in _COUNTS:
            total[key] += row[key]
    for total in regions.values():
        total["percent_complete"] = percent(total["submitted"], total["issued"])
        total["percent_organisations_submitted"] = percent(
            total["organisations_submitted"], total["organisations"]
        )
        total["percent_signed_off"] = percent(total["signed_off"], total["organisations"])
    national = {
        key: sum(t[key] for t in regions.values())
        for key in ("organisations", "signed_off", "extended", "reopenings", *_COUNTS)
    }
    counts = [
        Column("issued", "Issued"),
        Column("delegated", "Delegated"),
        Column("returned", "Returned"),
        Column("submitted", "Submitted"),
        Column("percent_complete", "% complete"),
    ]
    return ReportResult(
        tables=[
            Table(
                "regions",
                "By region",
                [
                    Column("region", "Region"),
                    Column("organisations", "Organisations"),
                    Column("organisations_submitted", "Organisations that submitted everything"),
                    Column("percent_organisations_submitted", "% of organisations submitted"),
                    Column("signed_off", "Signed off"),
                    Column("percent_signed_off", "% of organisations signed off"),
                    *counts,
                    Column("extended", "Extended"),
                    Column("reopenings", "Reopenings"),
                ],
                list(regions.values()),
            ),
            Table(
                "organisations",
                "By organisation",
                [
                    Column("region", "Region"),
                    Column("code", "Code"),
                    Column("name", "Name"),
                    Column("kind", "Kind"),
                    *counts[:1],
                    Column("not_started", "Not started"),
                    Column("in_progress", "In progress"),
                    *counts[1:],
                    Column("cancelled", "Cancelled"),
                    Column("signed_off", "Signed off"),
                    Column("signed_off_at", "Signed off at"),
                    Column("deadline", "Deadline"),
                    Column("days_to_deadline", "Days to deadline"),
                    Column("extension_until", "Extended until"),
                    Column("extension_reason", "Extension reason"),
                    Column("reopenings", "Reopenings"),
                    Column("last_reopened_at", "Last reopened"),
                ],
                rows,
            ),
        ],
        summary={
            **national,
            "percent_complete": percent(national["submitted"], national["issued"]),
            "phase": cycle["phase"],
            "data_entry_closes": cycle["data_entry_closes"],
            "days_to_close": days_until(cycle["data_entry_closes"], now),
        },
        about={"as_at": now, "region": region},
    )


#: Service groups by the name their organisation gave them (the latest, if renamed). Read
#: from the journal, which every projection and every as-at replay shares; an organisation
#: has a handful of groups.
_GROUP_NAMES = """
SELECT DISTINCT ON (j.data->>'group_id') j.data->>'group_id' AS group_id,
       j.data->>'name' AS name
  FROM public.journal j
 WHERE j.type = 'registration.ServiceGroupDefined' AND j.key = $1
 ORDER BY j.data->>'group_id', j.seq DESC
"""


async def group_names(conn: Connection, organisation_id: str) -> dict[str, str]:
    """The organisation's service groups' names by their ids."""
    rows = await conn.fetch(_GROUP_NAMES, organisation_id)
    return {r["group_id"]: r["name"] for r in rows}


def _group_name(group_id: str | None, names: dict[str, str]) -> str:
    if group_id is None:
        return "Not in a group"
    return names.get(group_id, "A group not on record")


async def return_progress(conn: Connection, request: ReportRequest) -> ReportResult:
    """One organisation's questionnaires with their status, per service group."""
    cycle = await cycle_row(conn, request)
    org = await organisation_row(conn, request)
    now = moment(request)
    rows = [
        dict(r)
        for r in await conn.fetch(
            """
        SELECT q.questionnaire_id, q.title, q.kind, q.subject_kind, q.subject_id, q.group_id,
               q.status, q.issued_at, q.saves, q.first_saved_at, q.last_saved_at,
               q.delegated_at, d.delegate_email, d.status AS delegation_status, q.returned_at,
               q.submitted_at, q.submitted_by, q.locked
          FROM prog_questionnaires q
          LEFT JOIN LATERAL (SELECT delegate_email, status FROM prog_delegations d
                              WHERE d.questionnaire_id = q.questionnaire_id
                              ORDER BY d.delegated_at DESC LIMIT 1) d ON true
         WHERE q.cycle = $1 AND q.organisation_id = $2
         ORDER BY q.group_id NULLS FIRST, q.kind, q.title
        """,
            request.cycle,
            org["organisation_id"],
        )
    ]
    ret = await conn.fetchrow(
        "SELECT * FROM prog_returns WHERE cycle = $1 AND organisation_id = $2",
        request.cycle,
        org["organisation_id"],
    )
    names = await group_names(conn, org["organisation_id"])
    for row in rows:
        row["group"] = _group_name(row["group_id"], names)
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        g = groups.setdefault(
            row["group_id"],
            {
                "group_id": row["group_id"],
                "group": row["group"],
                "questionnaires": 0,
                **dict.fromkeys(STATUSES, 0),
            },
        )
        g["questionnaires"] += 1
        g[row["status"]] += 1
    for g in groups.values():
        g["percent_complete"] = percent(g["submitted"], g["questionnaires"] - g["cancelled"])
    issued = sum(1 for r in rows if r["status"] != "cancelled")
    submitted = sum(1 for r in rows if r["status"] == "submitted")
    extension = ret["extension_until"] if ret else None
    deadline = max(d for d in (cycle["data_entry_closes"], extension) if d is not None)
    return ReportResult(
        tables=[
            Table(
                "groups",
                "By service group",
                [
                    Column("group", "Group"),
                    Column("questionnaires", "Questionnaires"),
                    *(Column(s, s.replace("-", " ").capitalize()) for s in STATUSES),
                    Column("percent_complete", "% complete"),
                ],
                list(groups.values()),
            ),
            Table(
                "questionnaires",
                "Questionnaires",
                [
                    Column("title", "Questionnaire"),
                    Column("kind", "Kind"),
                    Column("group", "Group"),
                    Column("status", "Status"),
                    Column("issued_at", "Issued"),
                    Column("saves", "Saves"),
                    Column("last_saved_at", "Last saved"),
                    Column("delegate_email", "Delegated to"),
                    Column("delegation_status", "Delegation"),
                    Column("returned_at", "Returned"),
                    Column("submitted_at", "Submitted"),
                    Column("locked", "Locked"),
                ],
                rows,
            ),
        ],
        summary={
            "issued": issued,
            "submitted": submitted,
            "percent_complete": percent(submitted, issued),
            "signed_off": bool(ret and ret["signed_off"]),
            "signed_off_at": ret["last_signed_off_at"] if ret and ret["signed_off"] else None,
            "deadline": deadline,
            "days_to_deadline": days_until(deadline, now),
            "extension_until": extension,
            "reopenings": ret["reopenings"] if ret else 0,
        },
        about={"organisation": org["code"], "organisation_name": org["name"], "as_at": now},
    )


REPORTS = [
    Report(
        name="cycle-progress",
        title="Cycle progress",
        description="Per region: the share of organisations that submitted everything they "
        "owe and that signed off (week by week in “Cycle progress week by week”). Per region and "
        "organisation: questionnaires issued (not counting "
        "cancelled ones), by status, % complete (submitted / issued), sign-off, the deadline "
        "(the organisation's extension if later than the close) and days to it from the as-at "
        "moment, extensions and reopenings.",
        options="`region` narrows it to one region.",
        see_also=("cycle-progress-over-time",),
        projections=("progress", "organisations"),
        scope=Scope.NATIONAL,
        query=cycle_progress,
        leads_may_read=False,
    ),
    Report(
        name="return-progress",
        title="Return progress",
        description="One organisation's questionnaires for the cycle with their status, "
        "delegate and dates, per service group, and its sign-off and deadline.",
        projections=("progress", "organisations"),
        scope=Scope.ORGANISATION,
        query=return_progress,
        roles=frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR}),
        as_at_keys=organisation_keys,
    ),
]
