"""HTTP endpoints: the deadline reminders' schedule (the national team).

- `PUT /reminders/{cycle}/schedule`  `{"days_before": [28, 14, 7, 1]}`: 1-10 distinct whole
  numbers of days before the close, 1 to 120 (national-admin)
- `GET /reminders/{cycle}`           the schedule, the close, the reminders recorded per offset
  and what became of them, and which organisations are due the next one (national-admin,
  auditor)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from csm_contracts.auth import Role
from csm_contracts.events.cycles import CYCLE_PATTERN
from csm_kernel.auth import Principal, require
from csm_kernel.http import error_responses

from ...application.reminders import MAX_DAYS_BEFORE, MAX_OFFSETS
from .deps import RemindersDep

router = APIRouter(tags=["reminders"])

Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
Reader = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR))]
Cycle = Annotated[str, Path(pattern=CYCLE_PATTERN, examples=["2009-10"])]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: "7" or 7.5 is not a number of days. Range, count and distinctness are checked
    # by the application, with one message for each.
    days_before: list[StrictInt] = Field(
        examples=[[28, 14, 7, 1]],
        description=f"1-{MAX_OFFSETS} distinct whole numbers of days before the close, "
        f"1 to {MAX_DAYS_BEFORE}",
    )


class OffsetOut(BaseModel):
    days_before: int
    in_schedule: bool
    recorded: int
    sent: int
    failed: int


class NextOrganisation(BaseModel):
    organisation_id: str
    name: str
    days_before: int
    closes_at: str


class NextOut(BaseModel):
    """The next moment reminders are due and the organisations due then (the first 100)."""

    due_at: str
    days_before: list[int]
    count: int
    organisations: list[NextOrganisation]


class ReminderStatus(BaseModel):
    cycle: str
    days_before: list[int]
    default_schedule: bool
    schedule_set_by: str | None
    schedule_set_at: str | None
    data_entry_closes: str | None
    recorded: list[OffsetOut]
    next: NextOut | None


@router.put(
    "/reminders/{cycle}/schedule",
    response_model=ReminderStatus,
    responses=error_responses(401, 403, 413, 422),
)
async def set_schedule(
    cycle: Cycle, body: ScheduleIn, admin: Admin, reminders: RemindersDep
) -> dict[str, Any]:
    await reminders.set_schedule(cycle, body.days_before, admin.actor)
    return await reminders.status(cycle)


@router.get(
    "/reminders/{cycle}",
    response_model=ReminderStatus,
    responses=error_responses(401, 403, 404, 422),
)
async def reminder_status(cycle: Cycle, _: Reader, reminders: RemindersDep) -> dict[str, Any]:
    return await reminders.status(cycle)
