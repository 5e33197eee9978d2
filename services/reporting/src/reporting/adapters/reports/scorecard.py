"""Commissioning self-assessment scorecards (DESIGN §7): one PCT's over time, and every PCT's
in a cycle with how many got each overall grade."""

from __future__ import annotations

from typing import Any

from csm_contracts.events.registration import Region
from csm_kernel.database import Connection
from csm_kernel.errors import InvalidInput, NotFound

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.measures import COMMISSIONING_PCT_KINDS, GRADES, SELF_ASSESSMENT, TOPICS, from_json
from .locality_profile import require_cycle

_GRADE_COLUMNS = [
    *(Column(topic, label) for topic, label in TOPICS),
    Column("overall", "Overall grade"),
]


def _grades(row: Any) -> dict[str, Any]:
    """A submission's topic and overall grades; blank unless the submission stands."""
    current = row is not None and row["current"]
    topics = (from_json(row["scorecard_topics"]) or {}) if current else {}
    out: dict[str, Any] = {topic: topics.get(topic) for topic, _ in TOPICS}
    out["overall"] = row["overall_grade"] if current else None
    if row is None or row["status"] == "cancelled":
        out["status"] = "not issued"
    elif current:
        out["status"] = "submitted"
    else:
        out["status"] = "withdrawn" if row["status"] == "withdrawn" else "not submitted"
    out["submitted_at"] = row["submitted_at"] if current else None
    return out


async def organisation_scorecard(conn: Connection, request: ReportRequest) -> ReportResult:
    """One organisation's scorecard per cycle (every cycle, or the one asked for)."""
    code = request.organisation
    if not code:
        raise InvalidInput.field("organisation", "this report needs an organisation")
    org = await conn.fetchrow(
        "SELECT organisation_id, code, name, kind, region FROM organisations"
        " WHERE organisation_id = $1 OR code = $1 ORDER BY organisation_id = $1 DESC LIMIT 1",
        code,
    )
    if org is None:
        raise NotFound(f"no organisation {code}")
    if request.cycle is not None:
        await require_cycle(conn, request)
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (cycle) cycle, status, current, scorecard_topics, overall_grade,
               submitted_at
          FROM responses
         WHERE organisation_id = $1 AND definition_id = '{SELF_ASSESSMENT}'
           AND ($2::text IS NULL OR cycle = $2)
         ORDER BY cycle, current DESC, status <> 'cancelled' DESC, submitted_at DESC NULLS LAST
        """,
        org["organisation_id"],
        request.cycle,
    )
    out = [{"cycle": r["cycle"], **_grades(r)} for r in rows]
    latest = next((r for r in reversed(out) if r["status"] == "submitted"), None)
    return ReportResult(
        tables=[
            Table(
                "scorecard",
                "Balanced scorecard by cycle",
                [
                    Column("cycle", "Cycle"),
                    *_GRADE_COLUMNS,
                    Column("status", "Submission"),
                    Column("submitted_at", "Submitted"),
                ],
                out,
            )
        ],
        summary={
            "cycles": len(out),
            "latest_cycle": latest["cycle"] if latest else None,
            "latest_overall": latest["overall"] if latest else None,
        },
        about={"organisation_name": org["name"], "kind": org["kind"], "region": org["region"]},
    )


async def organisation_keys(_conn: Connection, request: ReportRequest) -> list[str]:
    """As-at needs only the organisation's events, and the national cycle events."""
    return [request.organisation or "", "NATIONAL"]


async def national_scorecards(conn: Connection, request: ReportRequest) -> ReportResult:
    """Every commissioning PCT's scorecard in a cycle (optionally one region's), and how many
    PCTs got each overall grade."""
    cycle, _ = await require_cycle(conn, request)
    if request.region is not None and request.region not in {r.value for r in Region}:
        raise InvalidInput.field("region", f"no region {request.region!r}")
    rows = await conn.fetch(
        f"""
        SELECT o.code, o.name, o.region, r.status, r.current, r.scorecard_topics,
               r.overall_grade, r.submitted_at
          FROM organisations o
          LEFT JOIN LATERAL (
                SELECT status, current, scorecard_topics, overall_grade, submitted_at
                  FROM responses
                 WHERE organisation_id = o.organisation_id AND cycle = $1
                   AND definition_id = '{SELF_ASSESSMENT}'
                 ORDER BY current DESC, status <> 'cancelled' DESC,
                          submitted_at DESC NULLS LAST
                 LIMIT 1) r ON true
         WHERE o.kind = ANY($2::text[]) AND ($3::text IS NULL OR o.region = $3)
         ORDER BY o.code
        """,
        cycle,
        list(COMMISSIONING_PCT_KINDS),
        request.region,
    )
    pcts = []
    for r in rows:
        graded = _grades(r if r["status"] is not None else None)
        pcts.append({"code": r["code"], "name": r["name"], "region": r["region"], **graded})
    counts: dict[str, int] = {g: 0 for g in GRADES}
    ungraded = 0
    for p in pcts:
        if p["overall"] in counts:
            counts[p["overall"]] += 1
        else:
            ungraded += 1
    count_rows = [{"grade": g, "pcts": n} for g, n in counts.items()]
    count_rows.append({"grade": "not graded", "pcts": ungraded})
    # The national distribution per topic: how many PCTs got each grade in it.
    by_topic = []
    for topic, label in TOPICS:
        row: dict[str, Any] = {"topic": label, **dict.fromkeys(GRADES, 0), "not_graded": 0}
        for p in pcts:
            row[p[topic] if p[topic] in counts else "not_graded"] += 1
        by_topic.append(row)
    return ReportResult(
        tables=[
            Table(
                "scorecards",
                "Scorecards by PCT",
                [
                    Column("code", "Code"),
                    Column("name", "PCT"),
                    Column("region", "Region"),
                    *_GRADE_COLUMNS,
                    Column("status", "Submission"),
                ],
                pcts,
            ),
            Table(
                "overall_grades",
                "PCTs by overall grade",
                [Column("grade", "Overall grade"), Column("pcts", "PCTs")],
                count_rows,
            ),
            Table(
                "grades_by_topic",
                "PCTs by grade in each topic",
                [
                    Column("topic", "Topic"),
                    *(Column(g, g.replace("-", " ").capitalize()) for g in GRADES),
                    Column("not_graded", "Not graded"),
                ],
                by_topic,
            ),
        ],
        summary={
            "pcts": len(pcts),
            "submitted": sum(1 for p in pcts if p["status"] == "submitted"),
            **counts,
            "not_graded": ungraded,
        },
    )


REPORTS = [
    Report(
        name="self-assessment-scorecard",
        title="Commissioning self-assessment scorecard",
        description=(
            "One organisation's balanced scorecard: each topic's grade and the overall grade,"
            " per cycle (every cycle unless one is asked for). Grades are shown only while the"
            " submission stands."
        ),
        projections=("organisations", "responses"),
        scope=Scope.ORGANISATION,
        query=organisation_scorecard,
        needs_cycle=False,
        as_at_keys=organisation_keys,
    ),
    Report(
        name="self-assessment-scorecards",
        title="Commissioning self-assessment scorecards",
        description=(
            "Every commissioning PCT's balanced scorecard in a cycle, how many PCTs got each"
            " overall grade, and how many got each grade in each topic."
        ),
        options="`region` narrows it to one region.",
        see_also=("self-assessment-scorecard",),
        projections=("organisations", "responses"),
        scope=Scope.NATIONAL,
        query=national_scorecards,
        leads_may_read=False,
    ),
]
