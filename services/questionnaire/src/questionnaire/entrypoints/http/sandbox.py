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

from ...application.views import render
from ...domain import answers as rules
from ...domain.answers import AnswerError
from .dependencies import ServicesDep
from .questionnaires import Answers

router = APIRouter(tags=["sandbox"])


class SandboxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: Answers = Field(default_factory=dict)
    area: str = Field(
        default="SANDBOX", max_length=20, description="the area NI 51 is worked out for"
    )


@router.get("/definitions")
async def list_definitions(services: ServicesDep) -> list[dict[str, Any]]:
    return [
        {"ref": d.ref, "id": d.id, "version": d.version, "kind": d.kind.value, "title": d.title,
         "questions": len(d.questions)}
        for d in services.catalogue.all()
    ]  # fmt: skip


@router.get("/definitions/{ref}")
async def get_definition(ref: str, services: ServicesDep) -> dict[str, Any]:
    return render(services.catalogue.get(ref), {})


@router.post("/sandbox/{ref}")
async def try_answers(ref: str, body: SandboxIn, services: ServicesDep) -> dict[str, Any]:
    definition = services.catalogue.get(ref)
    errors: list[dict[str, str]] = []
    changes = dict(body.answers)
    # Bad answers are set aside and the rest tried again, so one bad value does not hide
    # what the others show.
    while True:
        try:
            answers, _ = rules.apply(definition, {}, changes)
            break
        except AnswerError as exc:
            errors.extend(p.as_dict() for p in exc.problems)
            for p in exc.problems:
                changes.pop(p.question, None)
    out = render(definition, answers)
    score = rules.ni51(definition, body.area, answers)
    out["ni51"] = score.model_dump() if score else None
    out["errors"] = errors
    out["saved"] = False
    return out
