"""HTTP endpoints over the read models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_kernel.auth import Principal, require
from csm_kernel.runtime import Runtime, runtime_of

from ..adapters import read_models

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
    runtime: Annotated[Runtime, Depends(runtime_of)],
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR))],
    kind: Annotated[OrganisationKind | None, Query(alias="type")] = None,
    region: Region | None = None,
) -> list[OrganisationRow]:
    rows = await read_models.list_organisations(
        runtime.require_pool(), kind.value if kind else None, region.value if region else None
    )
    return [OrganisationRow.model_validate(r) for r in rows]
