"""The organisations read model as a plain list (kept for existing callers)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_kernel.auth import Principal, require
from csm_kernel.http import error_responses

from .dependencies import ReportingDep

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


@router.get(
    "/organisations",
    response_model=list[OrganisationRow],
    responses=error_responses(401, 403, 422),
)
async def organisations(
    reporting: ReportingDep,
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR))],
    kind: Annotated[OrganisationKind | None, Query(alias="type")] = None,
    region: Region | None = None,
) -> list[OrganisationRow]:
    rows = await reporting.organisations.list(
        kind.value if kind else None, region.value if region else None
    )
    return [OrganisationRow.model_validate(asdict(r)) for r in rows]
