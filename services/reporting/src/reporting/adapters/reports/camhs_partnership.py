"""The CAMHS partnership report: an area's CAMHS services by tier, their money and workforce,
and its NI 51 score (DESIGN §8) from the CAMHS partnership questionnaire."""

from __future__ import annotations

from typing import Any

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.measures import (
    CAMHS_PARTNERSHIP,
    FUNDING_SOURCES,
    NI51_QUESTIONS,
    PROFESSIONS,
    from_json,
    score_of,
)
from .locality_profile import (
    SERVICE_MEASURES,
    area_keys,
    area_name,
    area_organisations,
    breakdown_rows,
    compare_table,
    headline,
    require_cycle,
    service_totals,
)

_QUESTIONNAIRE = f"""
SELECT organisation_id, status, current, answers, submitted_at
  FROM responses
 WHERE cycle = $1 AND definition_id = '{CAMHS_PARTNERSHIP}' AND subject_id = $2
   AND status <> 'cancelled'
 ORDER BY current DESC, submitted_at DESC NULLS LAST
 LIMIT 1
"""

_SIGNED_OFF = """
SELECT s.item
  FROM responses_returns r, jsonb_array_elements(coalesce(r.ni51, '[]')) AS s(item)
 WHERE r.organisation_id = ANY($1::text[]) AND r.cycle = $2 AND r.signed_off
   AND s.item->>'area' = $3
 LIMIT 1
"""


def _ni51(answers: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    rows = []
    scores = []
    for question, label in NI51_QUESTIONS:
        value = answers.get(question)
        score = score_of(value)
        scores.append(score)
        evidence = value.get("evidence") if isinstance(value, dict) else None
        rows.append(
            {"question": label, "question_id": question, "score": score, "evidence": evidence}
        )
    total = sum(s for s in scores if s is not None) if None not in scores else None
    return rows, total


async def camhs_partnership(conn: Connection, request: ReportRequest) -> ReportResult:
    """CAMHS services in the area by tier, investment by source and workforce by profession
    (against the previous cycle), and NI 51 with where it comes from."""
    cycle, previous = await require_cycle(conn, request)
    organisations = await area_organisations(conn, request, cycle)
    ids = [o["organisation_id"] for o in organisations]
    totals = await service_totals(conn, [cycle, previous], ids, camhs_only=True)
    now, before = totals.get(cycle), totals.get(previous)

    questionnaire = await conn.fetchrow(_QUESTIONNAIRE, cycle, request.area)
    ni51_rows: list[dict[str, Any]] = []
    score = None
    if questionnaire is None:
        status = "not issued"
    elif questionnaire["submitted_at"] is None:
        status = "not submitted"
    else:
        # A withdrawn submission still shows what was submitted, marked as not standing.
        status = "submitted" if questionnaire["current"] else questionnaire["status"]
        ni51_rows, score = _ni51(from_json(questionnaire["answers"]) or {})
    signed = await conn.fetchval(_SIGNED_OFF, ids, cycle, request.area)
    signed_score = from_json(signed).get("score") if signed is not None else None

    tables = [
        compare_table(
            "camhs_by_tier",
            "CAMHS services by tier",
            "Tier",
            breakdown_rows("tier"),
            now,
            before,
            SERVICE_MEASURES,
        ),
        compare_table(
            "camhs_investment",
            "CAMHS investment by funding source (£)",
            "Funding source",
            [
                *((f"source:{q}", label) for q, label in FUNDING_SOURCES),
                ("total:investment", "Total"),
            ],
            now,
            before,
        ),
        compare_table(
            "camhs_workforce",
            "CAMHS workforce by profession (WTE)",
            "Profession",
            [*((f"profession:{q}", label) for q, label in PROFESSIONS), ("total:wte", "Total")],
            now,
            before,
        ),
        Table(
            "ni51",
            "NI 51: effectiveness of CAMHS",
            [
                Column("question", "Question"),
                Column("score", "Score (1-4)"),
                Column("evidence", "Evidence"),
            ],
            ni51_rows,
        ),
    ]
    return ReportResult(
        tables=tables,
        summary={
            **headline(now, before, "total:services", "camhs_services"),
            **headline(now, before, "total:investment", "camhs_investment"),
            **headline(now, before, "total:wte", "camhs_wte"),
            "ni51_score": score,
            "ni51_status": status,
            "ni51_from_submitted_answer": status == "submitted",
            "ni51_submitted_at": questionnaire["submitted_at"] if questionnaire else None,
            "ni51_signed_off_score": signed_score,
        },
        about={
            "area_name": area_name(request.area or "", organisations),
            "previous_cycle": previous,
        },
    )


REPORTS = [
    Report(
        name="camhs-partnership",
        title="CAMHS partnership",
        description=(
            "CAMHS in an LA partnership area: services by tier with their investment and"
            " workforce against the previous cycle (a provider's services count in every area"
            " it covers), and the area's NI 51 score (four questions scored 1-4, sum 4-16)"
            " from its CAMHS partnership questionnaire, saying whether that is a submitted"
            " answer that stands (a withdrawn one is shown but flagged) and what was signed off."
        ),
        projections=("organisations", "responses"),
        scope=Scope.AREA,
        query=camhs_partnership,
        as_at_keys=area_keys,
    ),
]
