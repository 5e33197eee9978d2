"""What every questionnaire endpoint needs: the use cases (wired once at start, on
`app.state.application`) and the callers' roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require

from ...application.answering import Questionnaires
from ...application.cycles import Cycles
from ...application.last_year import LastYearsAnswers
from ...application.sandbox import Sandbox
from ...application.service import QuestionnaireService
from ...application.sign_off import Returns


# Dependencies are coroutines: FastAPI runs a plain function in its thread pool.
def application_of(request: Request) -> QuestionnaireService:
    application: QuestionnaireService = request.app.state.application
    return application


async def _questionnaires(request: Request) -> Questionnaires:
    return application_of(request).questionnaires


async def _last_year(request: Request) -> LastYearsAnswers:
    return application_of(request).last_year


async def _cycles(request: Request) -> Cycles:
    return application_of(request).cycles


async def _returns(request: Request) -> Returns:
    return application_of(request).returns


async def _sandbox(request: Request) -> Sandbox:
    return application_of(request).sandbox


QuestionnairesDep = Annotated[Questionnaires, Depends(_questionnaires)]
LastYearDep = Annotated[LastYearsAnswers, Depends(_last_year)]
CyclesDep = Annotated[Cycles, Depends(_cycles)]
ReturnsDep = Annotated[Returns, Depends(_returns)]
SandboxDep = Annotated[Sandbox, Depends(_sandbox)]

Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
#: Who may read questionnaires (each only their own, the national team and auditors all).
Reader = Annotated[
    Principal,
    Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)),
]
#: Who may read a questionnaire's history: the readers, and regulators (what was signed off).
HistoryReader = Annotated[
    Principal,
    Depends(
        require(
            Role.NATIONAL_ADMIN,
            Role.AUDITOR,
            Role.REGULATOR,
            Role.MAPPING_LEAD,
            Role.GROUP_OWNER,
        )
    ),
]
#: Who may answer, delegate and submit (their organisation's, or their group's).
Answerer = Annotated[Principal, Depends(require(Role.MAPPING_LEAD, Role.GROUP_OWNER))]
Lead = Annotated[Principal, Depends(require(Role.MAPPING_LEAD))]
Anyone = Annotated[
    Principal,
    Depends(require(*Role)),
]
