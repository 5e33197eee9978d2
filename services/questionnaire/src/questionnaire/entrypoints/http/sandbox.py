"""HTTP endpoints: the definitions, and the sandbox anyone can try at any time.

- `GET  /definitions`                      every definition (id@version, kind, title)
- `GET  /definitions/{ref}`                one, rendered blank (`id` for the latest version)
- `POST /sandbox/{ref}`                    try answers: follow-ups, validation and grades, live

The sandbox needs no account, saves nothing and emits no event: it renders the answers it is
sent through the same rules a saved questionnaire uses, with any bad answer listed in
`errors` (the rest still count).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from csm_kernel.http import error_responses

from .dependencies import SandboxDep
from .models import DefinitionSummary, Rendered, SandboxView
from .questionnaires import Answers

router = APIRouter(tags=["sandbox"])


class SandboxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: Answers = Field(default_factory=dict)
    area: str = Field(
        default="SANDBOX", max_length=20, description="the area NI 51 is worked out for"
    )


@router.get("/definitions", response_model=list[DefinitionSummary])
async def list_definitions(sandbox: SandboxDep) -> list[dict[str, Any]]:
    return sandbox.definitions()


@router.get(
    "/definitions/{ref}",
    response_model=Rendered,
    response_model_exclude_unset=True,
    responses=error_responses(404, 422),
)
async def get_definition(ref: str, sandbox: SandboxDep) -> dict[str, Any]:
    return sandbox.blank(ref)


@router.post(
    "/sandbox/{ref}",
    response_model=SandboxView,
    response_model_exclude_unset=True,
    responses=error_responses(404, 422),
)
async def try_answers(ref: str, body: SandboxIn, sandbox: SandboxDep) -> dict[str, Any]:
    return sandbox.try_answers(ref, body.answers, body.area)
