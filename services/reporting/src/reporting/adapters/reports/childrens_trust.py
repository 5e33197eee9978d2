"""The Children's Trust profile: what the LA, the PCTs and the NHS trusts in an area put into
children's services, and the LA's answers about its Children's Trust arrangements."""

from __future__ import annotations

from typing import Any

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from ...domain.measures import (
    CHILDRENS_TRUST,
    CHILDRENS_TRUST_QUESTIONS,
    PARTNER_KINDS,
    from_json,
    readable,
)
from .locality_profile import area_keys, area_name, area_organisations, require_cycle

_BY_ORGANISATION = """
SELECT organisation_id, services, investment, wte
  FROM responses_provider_totals
 WHERE organisation_id = ANY($1::text[]) AND cycle = $2 AND NOT camhs_only
"""

_ARRANGEMENTS = f"""
SELECT r.organisation_id, r.status, r.current, r.answers, r.submitted_at, r.submitted_by
  FROM responses r
 WHERE r.organisation_id = ANY($1::text[]) AND r.cycle = $2
   AND r.definition_id = '{CHILDRENS_TRUST}' AND r.status <> 'cancelled'
 ORDER BY r.organisation_id, r.issued_at NULLS LAST
"""

_PARTNER_ORDER = ("Local authority", "PCT", "NHS trust")
_UNSUBMITTED = {"withdrawn": "withdrawn", "issued": "not submitted"}


def _arrangement_rows(answers: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    known: set[str] = set()
    for section, questions in CHILDRENS_TRUST_QUESTIONS:
        for question, label in questions:
            known.add(question)
            if question in answers:
                rows.append(
                    {
                        "section": section,
                        "question": label,
                        "question_id": question,
                        "answer": readable(answers[question]),
                    }
                )
    # Questions a later version of the definition added: shown by id rather than dropped.
    for question in sorted(set(answers) - known):
        rows.append(
            {
                "section": "Other",
                "question": question,
                "question_id": question,
                "answer": readable(answers[question]),
            }
        )
    return rows


async def childrens_trust_profile(conn: Connection, request: ReportRequest) -> ReportResult:
    """Each partner's services, investment and workforce in the area, by organisation and by
    kind, and the Children's Trust arrangements as the area's local authority answered them."""
    cycle, _ = await require_cycle(conn, request)
    organisations = await area_organisations(conn, request, cycle)
    partners = [o for o in organisations if o["kind"] in PARTNER_KINDS]
    ids = [o["organisation_id"] for o in partners]
    figures = {r["organisation_id"]: r for r in await conn.fetch(_BY_ORGANISATION, ids, cycle)}
    by_organisation = []
    by_kind: dict[str, dict[str, Any]] = {
        k: {"kind": k, "organisations": 0, "services": 0, "investment": 0, "wte": 0}
        for k in _PARTNER_ORDER
    }
    for org in partners:
        kind = PARTNER_KINDS[org["kind"]]
        f = figures.get(org["organisation_id"])
        row = {
            "code": org["code"],
            "name": org["name"],
            "kind": kind,
            "services": f["services"] if f else 0,
            "investment": f["investment"] if f else 0,
            "wte": f["wte"] if f else 0,
        }
        by_organisation.append(row)
        total = by_kind[kind]
        total["organisations"] += 1
        for m in ("services", "investment", "wte"):
            total[m] += row[m]
    measures = [
        Column("services", "Services"),
        Column("investment", "Investment (£)"),
        Column("wte", "WTE"),
    ]

    las = [o["organisation_id"] for o in organisations if o["kind"] == "local-authority"]
    arrangements = await conn.fetch(_ARRANGEMENTS, las, cycle)
    # The area's own LA answers for it; another LA covering the area answers for its own.
    own = [a for a in arrangements if a["organisation_id"] == request.area] or list(arrangements)
    answer = own[0] if own else None
    status = "not issued"
    rows: list[dict[str, Any]] = []
    if answer is not None:
        status = (
            "submitted"
            if answer["current"]
            else _UNSUBMITTED.get(answer["status"], answer["status"])
        )
        if answer["current"]:
            rows = _arrangement_rows(from_json(answer["answers"]) or {})
    tables = [
        Table(
            "partners",
            "Partners' input by organisation",
            [
                Column("code", "Code"),
                Column("name", "Organisation"),
                Column("kind", "Kind"),
                *measures,
            ],
            by_organisation,
        ),
        Table(
            "partners_by_kind",
            "Partners' input by kind",
            [Column("kind", "Kind"), Column("organisations", "Organisations"), *measures],
            [by_kind[k] for k in _PARTNER_ORDER],
        ),
        Table(
            "arrangements",
            "Children's Trust arrangements",
            [
                Column("section", "Section"),
                Column("question", "Question"),
                Column("answer", "Answer"),
            ],
            rows,
        ),
    ]
    return ReportResult(
        tables=tables,
        summary={
            "partners": len(partners),
            "services": sum(r["services"] for r in by_organisation),
            "investment": sum((r["investment"] for r in by_organisation), 0),
            "wte": sum((r["wte"] for r in by_organisation), 0),
            "arrangements_status": status,
            "arrangements_submitted_at": answer["submitted_at"] if rows and answer else None,
        },
        about={"area_name": area_name(request.area or "", organisations)},
    )


REPORTS = [
    Report(
        name="childrens-trust-profile",
        title="Children's Trust profile",
        description=(
            "The inter-agency input to children's services in an LA partnership area: services,"
            " investment and workforce of the local authority, the PCTs and the NHS trusts"
            " covering it (a provider's services count in every area it covers), and the"
            " local authority's submitted answers on its Children's Trust arrangements."
        ),
        projections=("organisations", "responses"),
        scope=Scope.AREA,
        query=childrens_trust_profile,
        as_at_keys=area_keys,
    ),
]
