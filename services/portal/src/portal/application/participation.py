"""Participation in a cycle as the national team's page reads it (reporting's
`GET /cycles/{cycle}/participation`): one page of organisations with their return's status,
the counts per filter, and what the filters and sorts are called."""

from __future__ import annotations

from pydantic import Field

from .models import ReadModel

#: The status filter's values and how people say them: the stages first, then the flags.
STATUSES = (
    ("not-started", "Not started"),
    ("in-progress", "In progress"),
    ("submitted", "Submitted"),
    ("signed-off", "Signed off"),
    ("overdue", "Overdue"),
    ("extended", "Extended"),
    ("reopened", "Reopened"),
)
STATUS_LABELS = dict(STATUSES)

#: The sortable columns: (sort key, column heading).
SORTS = (
    ("name", "Organisation"),
    ("region", "Region"),
    ("status", "Status"),
    ("last-activity", "Last activity"),
    ("deadline", "Deadline"),
)

#: How many organisations a page shows.
PER_PAGE = 25


class ParticipationRow(ReadModel):
    organisation_id: str
    code: str
    name: str | None = None
    kind: str | None = None
    region: str | None = None
    status: str
    issued: int = 0
    submitted: int = 0
    percent_complete: float | None = None
    signed_off_at: str | None = None
    deadline: str | None = None
    extension_until: str | None = None
    reopenings: int = 0
    last_activity: str | None = None
    overdue: bool = False


class ParticipationPage(ReadModel):
    """One page of the filtered organisations; `total` the filters leave, `counts[filter]
    [value]` how many each filter value would show, `summary` the whole cycle's figures."""

    cycle: str
    phase: str
    data_entry_closes: str
    as_at: str
    total: int
    page: int
    per_page: int
    pages: int
    rows: list[ParticipationRow] = Field(default_factory=list)
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    summary: dict[str, int] = Field(default_factory=dict)
