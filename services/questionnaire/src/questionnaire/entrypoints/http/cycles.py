"""HTTP endpoints: mapping cycles and their timetable (the national team).

- `POST /cycles`                        schedule a cycle with its timetable
- `GET  /cycles`                        every cycle, its phase and timetable (any account)
- `GET  /cycles/{cycle}`                one cycle
- `PUT  /cycles/{cycle}/timetable`      move dates (send `version`), with a reason
- `POST /cycles/{cycle}/phase`          move the cycle on now, ahead of its timetable
- `POST /cycles/{cycle}/tick`           apply the clock now (what the clock loop does)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from csm_contracts.events.cycles import Phase, Timetable
from csm_kernel.bounds import StreamVersion
from csm_kernel.http import append_context, error_responses

from ...domain.cycle import CycleState
from .dependencies import Admin, Anyone, CyclesDep
from .models import CycleView

router = APIRouter(tags=["cycles"])


class ScheduleCycleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cycle: str = Field(max_length=7, examples=["2009-10"])
    previous_cycle: str | None = Field(default=None, max_length=7, examples=["2008-09"])
    timetable: Timetable


class TimetableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StreamVersion = Field(description="the cycle's version you read")
    timetable: Timetable
    reason: str = Field(min_length=1, max_length=1000)


class PhaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: Phase
    reason: str = Field(min_length=1, max_length=1000)


def cycle_view(state: CycleState) -> dict[str, Any]:
    return {
        "cycle": state.cycle,
        "version": state.version,
        "phase": state.phase.value,
        "previous_cycle": state.previous_cycle,
        "timetable": state.timetable.model_dump(mode="json"),
    }


#: No or a bad sign-in (401), a role that may not (403), a request that does not validate (422).
_ALWAYS = (401, 403, 422)


@router.post(
    "/cycles",
    status_code=201,
    response_model=CycleView,
    responses=error_responses(*_ALWAYS, 409),
)
async def schedule_cycle(
    body: ScheduleCycleIn, request: Request, admin: Admin, cycles: CyclesDep
) -> dict[str, Any]:
    state = await cycles.schedule(
        body.cycle, body.previous_cycle, body.timetable, append_context(request, admin.actor)
    )
    return cycle_view(state)


@router.get("/cycles", response_model=list[CycleView], responses=error_responses(*_ALWAYS))
async def list_cycles(_: Anyone, cycles: CyclesDep) -> list[dict[str, Any]]:
    return [cycle_view(s) for s in await cycles.all()]


@router.get("/cycles/{cycle}", response_model=CycleView, responses=error_responses(*_ALWAYS, 404))
async def get_cycle(cycle: str, _: Anyone, cycles: CyclesDep) -> dict[str, Any]:
    return cycle_view(await cycles.get(cycle))


@router.put(
    "/cycles/{cycle}/timetable",
    response_model=CycleView,
    responses=error_responses(*_ALWAYS, 404, 409),
)
async def change_timetable(
    cycle: str, body: TimetableIn, request: Request, admin: Admin, cycles: CyclesDep
) -> dict[str, Any]:
    state = await cycles.change_timetable(
        cycle, body.version, body.timetable, body.reason, append_context(request, admin.actor)
    )
    return cycle_view(state)


@router.post(
    "/cycles/{cycle}/phase",
    response_model=CycleView,
    responses=error_responses(*_ALWAYS, 404, 409),
)
async def advance_phase(
    cycle: str, body: PhaseIn, request: Request, admin: Admin, cycles: CyclesDep
) -> dict[str, Any]:
    state = await cycles.advance(
        cycle, body.phase, body.reason, append_context(request, admin.actor)
    )
    return cycle_view(state)


@router.post(
    "/cycles/{cycle}/tick", response_model=CycleView, responses=error_responses(*_ALWAYS, 404)
)
async def tick(cycle: str, _: Admin, cycles: CyclesDep) -> dict[str, Any]:
    await cycles.tick()
    return cycle_view(await cycles.get(cycle))
