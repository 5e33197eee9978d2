"""Issuing owed questionnaires in bulk: idempotent, so a crash or a repeat issues nothing twice.

Each questionnaire's id (and so its stream) is derived from what it is about; an append at
version 0 to a stream that exists is refused by the store and skipped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from csm_contracts.events.responses import QuestionnaireIssued
from csm_kernel.database import Connection
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore, StreamAppend

from ..application.catalogue import DefinitionCatalogue
from ..domain.owed import KnownOrganisation, KnownService, Owed
from ..domain.questionnaire import issued, questionnaire_id, stream_id_for
from .questionnaires_pg import insert_rows, issue_row


async def known_organisations(
    conn: Connection, organisation_id: str | None = None
) -> list[KnownOrganisation]:
    rows = await conn.fetch(
        "SELECT code, name, kind FROM known_organisations WHERE $1::text IS NULL OR code = $1 "
        "ORDER BY code",
        organisation_id,
    )
    return [KnownOrganisation(r["code"], r["name"], r["kind"]) for r in rows]


async def known_services(
    conn: Connection,
    cycle: str,
    organisation_id: str | None = None,
    service_id: str | None = None,
) -> list[KnownService]:
    rows = await conn.fetch(
        "SELECT service_id, cycle, organisation_id, name, group_id FROM known_services "
        "WHERE cycle = $1 AND NOT withdrawn AND ($2::text IS NULL OR organisation_id = $2) "
        "AND ($3::text IS NULL OR service_id = $3) ORDER BY service_id",
        cycle,
        organisation_id,
        service_id,
    )
    return [KnownService(r["service_id"], r["cycle"], r["organisation_id"], r["name"],
                         r["group_id"]) for r in rows]  # fmt: skip


async def issue(
    conn: Connection,
    store: PostgresEventStore,
    catalogue: DefinitionCatalogue,
    cycle: str,
    owed: Sequence[Owed],
    context: AppendContext,
    at: datetime,
) -> int:
    """Issue what is owed and not yet issued; how many were issued now."""
    events: dict[str, QuestionnaireIssued] = {}
    for item in owed:
        definition = catalogue.latest(item.kind)
        qid = questionnaire_id(cycle, item.organisation_id, definition.id, item.subject_id)
        events[qid] = QuestionnaireIssued(
            organisation_id=item.organisation_id,
            cycle=cycle,
            questionnaire_id=qid,
            definition=definition.ref,
            title=item.title,
            subject_kind=item.subject_kind,
            subject_id=item.subject_id,
            group_id=item.group_id,
        )
    if not events:
        return 0
    existing = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM questionnaires WHERE id = ANY($1::text[])", list(events)
        )
    }
    new = [e for qid, e in events.items() if qid not in existing]
    issued_count = 0
    for start in range(0, len(new), 1000):
        chunk = new[start : start + 1000]
        prepared = store.prepare_many(
            [StreamAppend(stream_id_for(e.questionnaire_id), 0, [NewEvent.from_payload(e)])
             for e in chunk],
            context,
        )  # fmt: skip
        written = await store.write_prepared(conn, prepared)
        rows = [issue_row(issued(e), False, at) for e, ok in zip(chunk, written, strict=True) if ok]
        await insert_rows(conn, rows)
        issued_count += len(rows)
    return issued_count
