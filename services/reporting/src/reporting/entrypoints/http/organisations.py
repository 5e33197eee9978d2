"""The organisations read model as a plain list (kept for existing callers)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_kernel.auth import Principal, require

from ...services import Services
from .dependencies import services_of

router = APIRouter(tags=["organisations"])


class OrganisationRow(BaseModel):
    organisation_id: str
    code: str
    name: str
    kind: OrganisationKind
    region: Region
    partnership_areas: list[str]
    registered_at: datetime
    applied_events: int


@router.get("/organisations", response_model=list[OrganisationRow])
async def organisations(
    services: Annotated[Services, Depends(services_of)],
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR))],
    kind: Annotated[OrganisationKind | None, Query(alias="type")] = None,
    region: Region | None = None,
) -> list[OrganisationRow]:
    rows = await services.pool.fetch(
        """
        SELECT organisation_id, code, name, kind, region, partnership_areas, registered_at,
               applied_events
          FROM rm_organisations.organisations
         WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR region = $2)
         ORDER BY code
        """,
        kind.value if kind else None,
        region.value if region else None,
    )
    return [OrganisationRow.model_validate(dict(r)) for r in rows]
