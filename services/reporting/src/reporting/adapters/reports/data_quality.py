"""The quality of a cycle's data, per organisation, from what its events show.

The score (0-100) is the organisation's completeness (submitted / issued, in per cent) less
5 points for each carried-forward service never checked, late submission, delegation never
returned and reopening after sign-off, 10 if the return was not signed off by its deadline
(once the deadline has passed) or was signed off late, and 1 per answer changed after the
summary reports (at most 10); never below 0.

Also per organisation: the submitted questionnaires whose answers break a cross-field rule
(`domain.rules`; not in the score); and, in the national report, every rate nationally and per
region for each cycle up to the one asked for, with its change from the previous cycle
(`domain.quality`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csm_contracts.auth import Role
from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.quality import RATES, CycleRows, year_on_year
from .cycle_progress import (
    cycle_row,
    moment,
    organisation_keys,
    organisation_row,
    percent,
    region_of,
)


def _only(column: str) -> str:
    """Rows of the one organisation ($5) or region ($4) asked for, if any: the filter is
    applied before aggregating, so one organisation or region costs only its own rows."""
    return (
        f"($5::text IS NULL OR {column} = $5) AND ($4::text IS NULL OR {column} IN "
        "(SELECT organisation_id FROM organisations WHERE region = $4))"
    )


# A delegation outstanding at the close: made before it, and neither returned nor ended by
# then. "Never returned" also counts one revoked or superseded without a return.
_BY_ORGANISATION = f"""
WITH q AS (
    SELECT q.organisation_id,
           count(*) FILTER (WHERE q.status <> 'cancelled') AS issued,
           count(*) FILTER (WHERE q.status = 'submitted') AS submitted,
           count(*) FILTER (WHERE q.status NOT IN ('submitted', 'cancelled') AND q.saves > 0)
               AS answered_drafts,
           count(*) FILTER (WHERE q.status NOT IN ('submitted', 'cancelled') AND q.saves = 0)
               AS untouched,
           count(*) FILTER (WHERE q.status = 'submitted'
                              AND q.submitted_at > greatest($2::timestamptz, r.extension_until))
               AS late_submissions,
           coalesce(sum(q.changes_after_summary) FILTER (WHERE q.status <> 'cancelled'), 0)
               AS changes_after_summary,
           count(*) FILTER (WHERE q.status = 'submitted' AND cardinality(w.rules) > 0)
               AS submitted_with_warnings,
           coalesce(sum(cardinality(w.rules)) FILTER (WHERE q.status = 'submitted'), 0)
               AS rule_warnings
      FROM prog_questionnaires q
      LEFT JOIN prog_returns r ON r.cycle = q.cycle AND r.organisation_id = q.organisation_id
      LEFT JOIN prog_rule_warnings w ON w.questionnaire_id = q.questionnaire_id
     WHERE q.cycle = $1 AND {_only("q.organisation_id")}
     GROUP BY q.organisation_id
), d AS (
    SELECT organisation_id,
           count(*) FILTER (WHERE $3::timestamptz > $2::timestamptz AND delegated_at <= $2
                              AND (first_returned_at IS NULL OR first_returned_at > $2)
                              AND coalesce(accepted_at, revoked_at, superseded_at,
                                           'infinity') > $2) AS outstanding_at_close,
           count(*) FILTER (WHERE status IN ('revoked', 'superseded') AND times_returned = 0)
               AS revoked_unreturned
      FROM prog_delegations WHERE cycle = $1 AND {_only("organisation_id")}
     GROUP BY organisation_id
), s AS (
    SELECT provider_id AS organisation_id,
           count(*) FILTER (WHERE origin = 'carried-forward') AS carried_forward,
           count(*) FILTER (WHERE origin = 'carried-forward' AND checked_at IS NULL)
               AS unchecked
      FROM dir_services WHERE cycle = $1 AND {_only("provider_id")} GROUP BY provider_id
), who AS (
    SELECT organisation_id FROM q
    UNION SELECT organisation_id FROM prog_returns WHERE cycle = $1 AND {_only("organisation_id")}
    UNION SELECT organisation_id FROM s
)
SELECT w.organisation_id, coalesce(o.code, w.organisation_id) AS code,
       coalesce(o.name, r.organisation_name) AS name, o.kind, o.region,
       coalesce(q.issued, 0) AS issued, coalesce(q.submitted, 0) AS submitted,
       coalesce(q.answered_drafts, 0) AS answered_drafts, coalesce(q.untouched, 0) AS untouched,
       coalesce(s.carried_forward, 0) AS carried_forward, coalesce(s.unchecked, 0) AS unchecked,
       coalesce(q.late_submissions, 0) AS late_submissions,
       greatest($2::timestamptz, r.extension_until) AS deadline,
       r.extension_until IS NOT NULL AS extended, r.extension_until,
       coalesce(r.signed_off, false) AS signed_off,
       CASE WHEN r.signed_off THEN r.last_signed_off_at END AS signed_off_at,
       coalesce(r.signed_off
                AND r.last_signed_off_at > greatest($2::timestamptz, r.extension_until), false)
           AS signed_off_late,
       coalesce(q.changes_after_summary, 0) AS changes_after_summary,
       coalesce(q.submitted_with_warnings, 0) AS submitted_with_warnings,
       coalesce(q.rule_warnings, 0) AS rule_warnings,
       coalesce(r.reopenings_after_sign_off, 0) AS reopened_after_sign_off,
       coalesce(d.outstanding_at_close, 0) AS delegations_outstanding_at_close,
       coalesce(d.revoked_unreturned, 0) AS delegations_revoked_unreturned
  FROM who w
  LEFT JOIN q ON q.organisation_id = w.organisation_id
  LEFT JOIN d ON d.organisation_id = w.organisation_id
  LEFT JOIN s ON s.organisation_id = w.organisation_id
  LEFT JOIN prog_returns r ON r.cycle = $1 AND r.organisation_id = w.organisation_id
  LEFT JOIN organisations o ON o.organisation_id = w.organisation_id
 WHERE ($4::text IS NULL OR o.region = $4) AND ($5::text IS NULL OR w.organisation_id = $5)
 ORDER BY o.region NULLS LAST, code
"""

_COUNTS = (
    "issued",
    "submitted",
    "answered_drafts",
    "untouched",
    "carried_forward",
    "unchecked",
    "late_submissions",
    "changes_after_summary",
    "submitted_with_warnings",
    "rule_warnings",
    "reopened_after_sign_off",
    "delegations_outstanding_at_close",
    "delegations_revoked_unreturned",
)

COLUMNS = [
    Column("region", "Region"),
    Column("code", "Code"),
    Column("name", "Name"),
    Column("score", "Score"),
    Column("completeness", "% submitted"),
    Column("issued", "Issued"),
    Column("submitted", "Submitted"),
    Column("answered_drafts", "Answered drafts"),
    Column("untouched", "Untouched"),
    Column("carried_forward", "Carried forward"),
    Column("unchecked", "Never checked"),
    Column("late_submissions", "Late submissions"),
    Column("extended", "Extended"),
    Column("extension_until", "Extended until"),
    Column("signed_off", "Signed off"),
    Column("signed_off_at", "Signed off at"),
    Column("signed_off_late", "Signed off late"),
    Column("changes_after_summary", "Answers changed after summary reports"),
    Column("submitted_with_warnings", "Submitted with rule warnings"),
    Column("rule_warnings", "Rule warnings at submission"),
    Column("reopened_after_sign_off", "Reopened after sign-off"),
    Column("delegations_outstanding_at_close", "Delegations outstanding at the close"),
    Column("delegations_revoked_unreturned", "Delegations revoked unreturned"),
]


def score(row: dict[str, Any], now: datetime) -> int:
    """The organisation's score, by the rule in the module docstring."""
    base = 100.0 * row["submitted"] / row["issued"] if row["issued"] else 100.0
    missed = not row["signed_off"] and row["deadline"] is not None and now > row["deadline"]
    penalty: int = 5 * (
        row["unchecked"]
        + row["late_submissions"]
        + row["reopened_after_sign_off"]
        + row["delegations_outstanding_at_close"]
        + row["delegations_revoked_unreturned"]
    )
    penalty += 10 if missed or row["signed_off_late"] else 0
    penalty += min(10, row["changes_after_summary"])
    return max(0, round(base - float(penalty)))


async def _rows(
    conn: Connection,
    request: ReportRequest,
    organisation: str | None,
) -> tuple[list[dict[str, Any]], datetime]:
    cycle = await cycle_row(conn, request)
    now = moment(request)
    close = cycle["data_entry_closes"]
    rows = [
        dict(r)
        for r in await conn.fetch(
            _BY_ORGANISATION, request.cycle, close, now, region_of(request), organisation
        )
    ]
    for row in rows:
        row["completeness"] = percent(row["submitted"], row["issued"])
        row["score"] = score(row, now)
    return rows, now


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {key: sum(r[key] for r in rows) for key in _COUNTS}
    totals["organisations"] = len(rows)
    totals["completeness"] = percent(totals["submitted"], totals["issued"])
    totals["extended"] = sum(1 for r in rows if r["extended"])
    totals["signed_off"] = sum(1 for r in rows if r["signed_off"])
    totals["signed_off_late"] = sum(1 for r in rows if r["signed_off_late"])
    totals["mean_score"] = round(sum(r["score"] for r in rows) / len(rows), 1) if rows else None
    return totals


#: The year-on-year table: each rate and its change from the previous cycle.
YEAR_ON_YEAR = [
    Column("group", "National or region"),
    Column("cycle", "Cycle"),
    Column("previous_cycle", "Compared with"),
    Column("organisations", "Organisations"),
    *(
        column
        for rate in RATES
        for column in (Column(rate.key, rate.label), Column(f"{rate.key}_change", "Change"))
    ),
    Column("mean_score", "Mean score"),
    Column("mean_score_change", "Change"),
]


async def _year_on_year(
    conn: Connection, request: ReportRequest, now: datetime
) -> list[dict[str, Any]]:
    """The rates of every cycle up to the one asked for, nationally and per region (only the
    region asked for, if one is), each against its previous cycle (`domain.quality`)."""
    cycles = await conn.fetch(
        "SELECT cycle, previous_cycle, data_entry_closes FROM prog_cycles WHERE cycle <= $1"
        " ORDER BY cycle",
        request.cycle,
    )
    measured = []
    for c in cycles:
        rows = [
            dict(r)
            for r in await conn.fetch(
                _BY_ORGANISATION, c["cycle"], c["data_entry_closes"], now, None, None
            )
        ]
        for row in rows:
            row["score"] = score(row, now)
        measured.append(CycleRows(c["cycle"], c["previous_cycle"], rows))
    return year_on_year(measured, request.region)


async def data_quality(conn: Connection, request: ReportRequest) -> ReportResult:
    """Every organisation's quality signals and score, with national totals, and the national
    and regional rates year on year."""
    rows, now = await _rows(conn, request, None)
    return ReportResult(
        tables=[
            Table("organisations", "By organisation", COLUMNS, rows),
            Table(
                "year_on_year",
                "National and regional rates, year on year",
                YEAR_ON_YEAR,
                await _year_on_year(conn, request, now),
            ),
        ],
        summary=_totals(rows),
        about={"as_at": now, "region": request.region},
    )


async def data_quality_organisation(conn: Connection, request: ReportRequest) -> ReportResult:
    """One organisation's quality signals, score, and the records behind them."""
    org = await organisation_row(conn, request)
    rows, now = await _rows(conn, request, org["organisation_id"])
    oid = org["organisation_id"]
    close = (await cycle_row(conn, request))["data_entry_closes"]
    questionnaires = [
        dict(r)
        for r in await conn.fetch(
            """
        SELECT q.title, q.kind, q.subject_id, q.status, q.saves, q.submitted_at,
               q.changes_after_summary,
               CASE WHEN q.status = 'submitted' THEN array_to_string(w.rules, ', ') END
                   AS rule_warnings,
               CASE WHEN q.status NOT IN ('submitted', 'cancelled') AND q.saves = 0
                    THEN 'untouched'
                    WHEN q.status NOT IN ('submitted', 'cancelled') THEN 'answered, not submitted'
                    WHEN q.status = 'submitted'
                         AND q.submitted_at > greatest($3, r.extension_until) THEN 'late'
                    WHEN q.status = 'submitted' AND cardinality(w.rules) > 0
                         THEN 'rule warnings at submission'
                    WHEN q.changes_after_summary > 0 THEN 'changed after summary reports'
               END AS issue
          FROM prog_questionnaires q
          LEFT JOIN prog_returns r ON r.cycle = q.cycle AND r.organisation_id = q.organisation_id
          LEFT JOIN prog_rule_warnings w ON w.questionnaire_id = q.questionnaire_id
         WHERE q.cycle = $1 AND q.organisation_id = $2 AND q.status <> 'cancelled'
         ORDER BY q.kind, q.title
        """,
            request.cycle,
            oid,
            close,
        )
    ]
    unchecked = [
        dict(r)
        for r in await conn.fetch(
            "SELECT name, service_id, previous_cycle FROM dir_services WHERE cycle = $1"
            " AND provider_id = $2 AND origin = 'carried-forward' AND checked_at IS NULL"
            " ORDER BY name",
            request.cycle,
            oid,
        )
    ]
    delegations = [
        dict(r)
        for r in await conn.fetch(
            "SELECT d.delegate_email, q.title, d.status, d.delegated_at, d.revoked_at,"
            " d.superseded_at FROM prog_delegations d"
            " JOIN prog_questionnaires q USING (questionnaire_id)"
            " WHERE d.cycle = $1 AND d.organisation_id = $2 AND d.times_returned = 0"
            " ORDER BY d.delegated_at",
            request.cycle,
            oid,
        )
    ]
    return ReportResult(
        tables=[
            Table("organisation", "Quality signals", COLUMNS, rows),
            Table(
                "questionnaires",
                "Questionnaires",
                [
                    Column("title", "Questionnaire"),
                    Column("kind", "Kind"),
                    Column("subject_id", "About"),
                    Column("status", "Status"),
                    Column("saves", "Saves"),
                    Column("submitted_at", "Submitted"),
                    Column("changes_after_summary", "Changed after summary reports"),
                    Column("rule_warnings", "Rules broken at submission"),
                    Column("issue", "Issue"),
                ],
                questionnaires,
            ),
            Table(
                "unchecked_services",
                "Carried-forward services never checked",
                [
                    Column("name", "Service"),
                    Column("previous_cycle", "Carried from"),
                    Column("service_id", "Service id"),
                ],
                unchecked,
            ),
            Table(
                "unreturned_delegations",
                "Delegations never returned",
                [
                    Column("title", "Questionnaire"),
                    Column("delegate_email", "Delegate"),
                    Column("status", "Status"),
                    Column("delegated_at", "Delegated"),
                    Column("revoked_at", "Revoked"),
                    Column("superseded_at", "Superseded"),
                ],
                delegations,
            ),
        ],
        summary=_totals(rows),
        about={"organisation": org["code"], "organisation_name": org["name"], "as_at": now},
    )


_SCORING = (
    " Score (0-100): % submitted, less 5 per carried-forward service never checked, late "
    "submission, delegation never returned (outstanding at the close, or revoked/superseded "
    "without a return) and reopening after sign-off; less 10 if not signed off by the "
    "deadline (once passed) or signed off after it; less 1 per answer changed after the "
    "summary reports (at most 10); never below 0. Late means after the close, or after the "
    "organisation's extension if it has one. Rule warnings at submission: the questionnaire's "
    "cross-field rules (parts adding up to their total, looked-after children within the "
    "caseload) its standing submission breaks, worked out from the submitted answers (no "
    "event records warnings; the service refuses such a submission now, so one here was "
    "imported or let through by an older version); not part of the score."
)

REPORTS = [
    Report(
        name="data-quality",
        title="Data quality",
        description="Per organisation: completeness (submitted / issued; answered drafts vs. "
        "untouched), carried-forward services never checked, late submissions and sign-offs, "
        "extensions, answers changed after the summary reports, reopenings after sign-off and "
        "delegations never returned, with a score; national totals; and the national and "
        "regional rates year on year (each cycle up to this one, with the change in "
        "percentage points from the previous cycle named by its schedule)." + _SCORING,
        projections=("progress", "directory", "organisations"),
        scope=Scope.NATIONAL,
        query=data_quality,
        leads_may_read=False,
    ),
    Report(
        name="data-quality-organisation",
        title="Data quality: one organisation",
        description="One organisation's quality signals and score, with the questionnaires, "
        "unchecked services and unreturned delegations behind them." + _SCORING,
        projections=("progress", "directory", "organisations"),
        scope=Scope.ORGANISATION,
        query=data_quality_organisation,
        roles=frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR}),
        as_at_keys=organisation_keys,
    ),
]
