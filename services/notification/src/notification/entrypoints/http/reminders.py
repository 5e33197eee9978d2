"""HTTP endpoints: the deadline reminders' schedule (the national team).

- `PUT /reminders/{cycle}/schedule`  `{"days_before": [28, 14, 7, 1]}`: 1-10 distinct whole
  numbers of days before the close, 1 to 120 (national-admin)
- `GET /reminders/{cycle}`           the schedule, the close, the reminders recorded per offset
  and what became of them, and which organisations are due the next one (national-admin,
  auditor)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from csm_contracts.auth import Role
from csm_contracts.events.cycles import CYCLE_PATTERN
from csm_kernel.auth import Principal, require

from ...application.reminders import MAX_DAYS_BEFORE, MAX_OFFSETS, Reminders

router = APIRouter(tags=["reminders"])

Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
Reader = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR))]
Cycle = Annotated[str, Path(pattern=CYCLE_PATTERN, examples=["2009-10"])]


def _reminders(request: Request) -> Reminders:
    reminders: Reminders = request.app.state.services.reminders
    return reminders


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: "7" or 7.5 is not a number of days. Range, count and distinctness are checked
    # by the application, with one message for each.
    days_before: list[StrictInt] = Field(
        examples=[[28, 14, 7, 1]],
        description=f"1-{MAX_OFFSETS} distinct whole numbers of days before the close, "
        f"1 to {MAX_DAYS_BEFORE}",
    )


@router.put("/reminders/{cycle}/schedule")
async def set_schedule(
    cycle: Cycle, body: ScheduleIn, admin: Admin, request: Request
) -> dict[str, Any]:
    reminders = _reminders(request)
    await reminders.set_schedule(cycle, body.days_before, admin.actor)
    return await reminders.status(cycle)


@router.get("/reminders/{cycle}")
async def reminder_status(cycle: Cycle, _: Reader, request: Request) -> dict[str, Any]:
    return await _reminders(request).status(cycle)
