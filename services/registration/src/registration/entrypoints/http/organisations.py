"""HTTP endpoints: parse and validate, call the use case, shape the response."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, BaseModel, Field

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationKind, Region
from csm_contracts.events.registration import ORGANISATION_CODE_PATTERN
from csm_kernel.auth import Principal, ensure_can_see, require
from csm_kernel.http import append_context
from csm_kernel.runtime import Runtime, runtime_of

from ...application import organisations as services
from ...domain.commands import RegisterOrganisation
from ...domain.organisation import Organisation

router = APIRouter(tags=["organisations"])

_CODE = re.compile(ORGANISATION_CODE_PATTERN)


def _ods_code(value: str) -> str:
    if not (3 <= len(value) <= 5 and _CODE.match(value)):
        raise ValueError(
            f"{value!r} is not an organisation code: use 3 to 5 capital letters and digits, "
            "with at least one letter (e.g. 5A4)"
        )
    return value


Code = Annotated[
    str,
    AfterValidator(_ods_code),
    Field(description="ODS-style code: 3-5 capital letters and digits, at least one letter"),
]


class RegisterOrganisationRequest(BaseModel):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    kind: OrganisationKind
    region: Region
    partnership_areas: list[Code] = Field(default_factory=list)
    linked_organisation_id: Code | None = None


class OrganisationResponse(BaseModel):
    code: str
    name: str | None
    kind: OrganisationKind | None
    region: Region | None
    partnership_areas: list[str]
    version: int

    @classmethod
    def of(cls, org: Organisation) -> OrganisationResponse:
        return cls(
            code=org.code,
            name=org.name,
            kind=org.kind,
            region=org.region,
            partnership_areas=org.partnership_areas,
            version=org.version,
        )


READERS = (Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)


@router.post("/organisations", status_code=201, response_model=OrganisationResponse)
async def register(
    body: RegisterOrganisationRequest,
    request: Request,
    runtime: Annotated[Runtime, Depends(runtime_of)],
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> OrganisationResponse:
    org = await services.register_organisation(
        runtime.require_store(),
        RegisterOrganisation(
            code=body.code,
            name=body.name,
            kind=body.kind,
            region=body.region,
            partnership_areas=tuple(body.partnership_areas),
            linked_organisation_id=body.linked_organisation_id,
        ),
        append_context(request, principal.actor),
    )
    return OrganisationResponse.of(org)


@router.get("/organisations/{code}", response_model=OrganisationResponse)
async def get(
    code: str,
    runtime: Annotated[Runtime, Depends(runtime_of)],
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> OrganisationResponse:
    if not principal.has(Role.REGULATOR):
        ensure_can_see(principal, code)
    return OrganisationResponse.of(await services.get_organisation(runtime.require_store(), code))
