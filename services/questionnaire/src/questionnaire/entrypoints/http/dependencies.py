"""What every questionnaire endpoint needs: the wired use cases and the callers' roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require

if TYPE_CHECKING:
    from ...bootstrap import Services


async def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Any, Depends(services_of)]
Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
#: Who may read questionnaires (each only their own, the national team and auditors all).
Reader = Annotated[
    Principal,
    Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)),
]
#: Who may answer, delegate and submit (their organisation's, or their group's).
Answerer = Annotated[Principal, Depends(require(Role.MAPPING_LEAD, Role.GROUP_OWNER))]
Lead = Annotated[Principal, Depends(require(Role.MAPPING_LEAD))]
Anyone = Annotated[
    Principal,
    Depends(require(*Role)),
]
