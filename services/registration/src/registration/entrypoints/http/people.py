"""HTTP endpoint: who accounts are, for pages that name the people in a history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from csm_kernel.auth import Principal, current_principal
from csm_kernel.http import error_responses

from ...application.people import MOST_IDS
from .dependencies import PeopleDep

router = APIRouter(tags=["accounts"])


class PersonResponse(BaseModel):
    account_id: str
    #: None where the caller may not know who it is (then only where it belongs is said).
    name: str | None
    email: str | None
    organisation_id: str | None
    organisation_name: str | None
    #: The national team, a regulator or an auditor: no organisation.
    national: bool


@router.get(
    "/people",
    response_model=list[PersonResponse],
    responses=error_responses(401, 422),
)
async def people(
    people: PeopleDep,
    principal: Annotated[Principal, Depends(current_principal)],
    account_id: Annotated[
        list[str], Query(alias="id", min_length=1, max_length=MOST_IDS, description="account ids")
    ],
) -> list[PersonResponse]:
    """Who each account is, as far as the caller may know: the national team and auditors
    every account's name and email; anyone else those of their own organisation and their
    own; of any other account only its organisation (or that it is the national team's).
    Ids of no account are left out."""
    return [
        PersonResponse(
            account_id=p.account_id,
            name=p.name,
            email=p.email,
            organisation_id=p.organisation_id,
            organisation_name=p.organisation_name,
            national=p.national,
        )
        for p in await people.who(principal, account_id)
    ]
