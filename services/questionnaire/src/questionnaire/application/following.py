"""Following registration: who is registered and which services are mapped in which cycle,
which is what decides the questionnaires each organisation owes.

An organisation or a service that appears while a cycle is open is issued what it owes in the
caller's transaction (the consumer's, which records the message as processed), so a
redelivery issues nothing twice; a withdrawn service's questionnaire is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from csm_kernel.database import Connection
from csm_kernel.store import AppendContext

from ..domain import questionnaire as decide
from ..domain.definition import DefinitionKind
from ..domain.owed import KnownService
from ..domain.questionnaire import questionnaire_id
from .catalogue import DefinitionCatalogue
from .cycles import Cycles
from .ports import QuestionnaireRepository, Registry


class Following:
    def __init__(
        self,
        cycles: Cycles,
        questionnaires: QuestionnaireRepository,
        registry: Registry,
        catalogue: DefinitionCatalogue,
    ) -> None:
        self.cycles = cycles
        self.questionnaires = questionnaires
        self.registry = registry
        self.catalogue = catalogue

    async def organisation_registered(
        self,
        conn: Connection,
        code: str,
        name: str,
        kind: str,
        region: str,
        partnership_areas: Sequence[str],
        context: AppendContext,
    ) -> None:
        await self.registry.organisation_registered(
            conn, code, name, kind, region, partnership_areas
        )
        for cycle in await self.cycles.open_cycles(conn):
            await self.cycles.issue_owed(cycle, organisation_id=code, conn=conn, context=context)

    async def organisation_renamed(self, conn: Connection, code: str, name: str) -> None:
        await self.registry.organisation_renamed(conn, code, name)

    async def areas_changed(
        self, conn: Connection, code: str, partnership_areas: Sequence[str]
    ) -> None:
        await self.registry.areas_changed(conn, code, partnership_areas)

    async def service_mapped(
        self, conn: Connection, service: KnownService, camhs: bool, context: AppendContext
    ) -> None:
        await self.registry.service_mapped(conn, service, camhs)
        if service.cycle in await self.cycles.open_cycles(conn):
            await self.cycles.issue_owed(
                service.cycle, service_id=service.service_id, conn=conn, context=context
            )

    async def service_revised(
        self, conn: Connection, service_id: str, changes: Sequence[tuple[str, object]]
    ) -> None:
        await self.registry.service_revised(conn, service_id, changes)

    async def service_withdrawn(
        self,
        conn: Connection,
        service_id: str,
        cycle: str,
        organisation_id: str,
        reason: str,
        context: AppendContext,
        at: datetime,
    ) -> None:
        await self.registry.service_withdrawn(conn, service_id)
        definition = self.catalogue.latest(DefinitionKind.SERVICE)
        qid = questionnaire_id(cycle, organisation_id, definition.id, service_id)
        q = await self.questionnaires.find(qid, conn)
        if q is None:
            return
        events = decide.cancel(q, f"the service was withdrawn: {reason}")
        if events:
            await self.questionnaires.save(q, events, context, at, conn=conn)
