"""This service's copy of organisations, leads and questionnaire titles, in PostgreSQL
(`organisations`, `leads`, `questionnaires`), written and read in a consumer's transaction."""

from __future__ import annotations

from csm_kernel.database import Connection

from ..domain.emails import Lead

_UPSERT_ORGANISATION = """
INSERT INTO organisations (code, name, kind, region) VALUES ($1, $2, $3, $4)
ON CONFLICT (code) DO UPDATE
    SET name = EXCLUDED.name, kind = EXCLUDED.kind, region = EXCLUDED.region
"""

_SET_LEAD = """
INSERT INTO leads (organisation_id, account_id, email, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (organisation_id) DO UPDATE
    SET account_id = EXCLUDED.account_id, email = EXCLUDED.email, name = EXCLUDED.name
"""

_ADD_QUESTIONNAIRE = """
INSERT INTO questionnaires (questionnaire_id, organisation_id, cycle, title)
VALUES ($1, $2, $3, $4) ON CONFLICT (questionnaire_id) DO NOTHING
"""


class PostgresDirectory:
    """`application.ports.Directory` in PostgreSQL."""

    async def upsert_organisation(
        self, conn: Connection, code: str, name: str, kind: str, region: str
    ) -> None:
        await conn.execute(_UPSERT_ORGANISATION, code, name, kind, region)

    async def rename_organisation(self, conn: Connection, code: str, name: str) -> None:
        await conn.execute("UPDATE organisations SET name = $2 WHERE code = $1", code, name)

    async def organisation_name(self, conn: Connection, code: str) -> str | None:
        name = await conn.fetchval("SELECT name FROM organisations WHERE code = $1", code)
        return str(name) if name else None

    async def lead(self, conn: Connection, organisation_id: str) -> Lead | None:
        row = await conn.fetchrow(
            "SELECT organisation_id, account_id, email, name FROM leads WHERE organisation_id = $1",
            organisation_id,
        )
        if row is None:
            return None
        return Lead(row["organisation_id"], row["account_id"], row["email"], row["name"])

    async def set_lead(self, conn: Connection, lead: Lead) -> None:
        await conn.execute(_SET_LEAD, lead.organisation_id, lead.account_id, lead.email, lead.name)

    async def add_questionnaire(
        self, conn: Connection, questionnaire_id: str, organisation_id: str, cycle: str, title: str
    ) -> None:
        await conn.execute(_ADD_QUESTIONNAIRE, questionnaire_id, organisation_id, cycle, title)

    async def questionnaire_title(self, conn: Connection, questionnaire_id: str) -> str | None:
        title = await conn.fetchval(
            "SELECT title FROM questionnaires WHERE questionnaire_id = $1", questionnaire_id
        )
        return str(title) if title else None
