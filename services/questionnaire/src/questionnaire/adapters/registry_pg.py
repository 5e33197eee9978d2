"""What registration told us, in PostgreSQL: the `known_organisations` and `known_services`
rows the registration consumer keeps (`application.following`), read when issuing and when
bringing a carried-forward service's answers in from the cycle it was carried from."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from csm_kernel.database import Connection

from ..application.ports import CarriedFrom
from ..domain.owed import KnownOrganisation, KnownService

#: The `known_services` columns a `ServiceRevised` may change, by the event's field name.
_REVISABLE = {"name": "name", "group_id": "group_id", "camhs": "camhs"}


class PostgresRegistry:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def organisations(
        self, conn: Connection, organisation_id: str | None = None
    ) -> list[KnownOrganisation]:
        rows = await conn.fetch(
            "SELECT code, name, kind FROM known_organisations "
            "WHERE $1::text IS NULL OR code = $1 ORDER BY code",
            organisation_id,
        )
        return [KnownOrganisation(r["code"], r["name"], r["kind"]) for r in rows]

    async def services(
        self,
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
        return [
            KnownService(
                r["service_id"], r["cycle"], r["organisation_id"], r["name"], r["group_id"]
            )
            for r in rows
        ]

    async def is_known(self, organisation_id: str) -> bool:
        found = await self.pool.fetchval(
            "SELECT 1 FROM known_organisations WHERE code = $1", organisation_id
        )
        return bool(found)

    async def name_of(self, conn: Connection, organisation_id: str) -> str | None:
        name: str | None = await conn.fetchval(
            "SELECT name FROM known_organisations WHERE code = $1", organisation_id
        )
        return name

    async def organisation_registered(
        self,
        conn: Connection,
        code: str,
        name: str,
        kind: str,
        region: str,
        partnership_areas: Sequence[str],
    ) -> None:
        await conn.execute(
            "INSERT INTO known_organisations (code, name, kind, region, partnership_areas) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, "
            "kind = EXCLUDED.kind, region = EXCLUDED.region, "
            "partnership_areas = EXCLUDED.partnership_areas",
            code,
            name,
            kind,
            region,
            list(partnership_areas),
        )

    async def organisation_renamed(self, conn: Connection, code: str, name: str) -> None:
        await conn.execute("UPDATE known_organisations SET name = $2 WHERE code = $1", code, name)

    async def areas_changed(
        self, conn: Connection, code: str, partnership_areas: Sequence[str]
    ) -> None:
        await conn.execute(
            "UPDATE known_organisations SET partnership_areas = $2 WHERE code = $1",
            code,
            list(partnership_areas),
        )

    async def service_mapped(self, conn: Connection, service: KnownService, camhs: bool) -> None:
        await conn.execute(
            "INSERT INTO known_services (service_id, cycle, organisation_id, group_id, name, "
            "camhs, previous_service_id, previous_cycle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (service_id) DO UPDATE SET "
            "group_id = EXCLUDED.group_id, name = EXCLUDED.name, camhs = EXCLUDED.camhs, "
            "previous_service_id = COALESCE(EXCLUDED.previous_service_id, "
            "known_services.previous_service_id), "
            "previous_cycle = COALESCE(EXCLUDED.previous_cycle, known_services.previous_cycle)",
            service.service_id,
            service.cycle,
            service.organisation_id,
            service.group_id,
            service.name,
            camhs,
            service.previous_service_id,
            service.previous_cycle,
        )

    async def carried_from(self, service_id: str) -> CarriedFrom | None:
        row = await self.pool.fetchrow(
            "SELECT previous_service_id, previous_cycle FROM known_services "
            "WHERE service_id = $1 AND previous_service_id IS NOT NULL",
            service_id,
        )
        if row is None or row["previous_cycle"] is None:
            return None
        return CarriedFrom(row["previous_service_id"], row["previous_cycle"])

    async def service_revised(
        self, conn: Connection, service_id: str, changes: Sequence[tuple[str, object]]
    ) -> None:
        for field, new in changes:
            column = _REVISABLE.get(field)
            if column is not None:
                await conn.execute(
                    f"UPDATE known_services SET {column} = $2 WHERE service_id = $1",
                    service_id,
                    new,
                )

    async def service_withdrawn(self, conn: Connection, service_id: str) -> None:
        await conn.execute(
            "UPDATE known_services SET withdrawn = true WHERE service_id = $1", service_id
        )
