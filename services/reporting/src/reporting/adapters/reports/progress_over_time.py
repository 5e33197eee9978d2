"""Cycle progress through time: per region, week by week, the share of the organisations in
the cycle that had submitted everything they owed, and that had signed off.

Replayed from the journal by date (the progress projection holds only the latest state): the
cycle's questionnaire and sign-off events in journal order, counted as they happen and sampled
at the end of each week (London dates) until the close (or the last event, if later) or the
report's own day, whichever is first. A report of its own, so
that the cycle-progress report the participation pages read stays one query."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from csm_kernel.database import Connection

from ...application.reports import Column, Report, ReportRequest, ReportResult, Scope, Table
from .cycle_progress import cycle_row, moment, percent

LONDON = ZoneInfo("Europe/London")

ISSUED, SUBMITTED = "questionnaire.QuestionnaireIssued", "questionnaire.ResponseSubmitted"
WITHDRAWN, CANCELLED = "questionnaire.SubmissionWithdrawn", "questionnaire.QuestionnaireCancelled"
SIGNED_OFF, REOPENED = "questionnaire.CycleSignedOff", "questionnaire.ReturnReopened"
#: A questionnaire's state as the count needs it: owed and open, submitted, or not owed.
STATE = {ISSUED: "open", SUBMITTED: "submitted", WITHDRAWN: "open", CANCELLED: "cancelled"}

# The cycle's progress events in journal order, up to the report's moment (an as-at report's
# event position, when it has one). The journal's key is the organisation's id.
_EVENTS = """
SELECT j.type, j.occurred_at, j.key AS organisation_id,
       j.data->>'questionnaire_id' AS questionnaire_id
  FROM public.journal j
 WHERE j.type = ANY($1::text[]) AND j.data->>'cycle' = $2 AND j.occurred_at <= $3
   AND ($4::bigint IS NULL OR j.seq <= $4)
 ORDER BY j.seq
"""

# The organisations in the cycle (owing a questionnaire or holding a return) and their region.
_MEMBERS = """
SELECT w.organisation_id, o.region
  FROM (SELECT organisation_id FROM prog_questionnaires WHERE cycle = $1
        UNION SELECT organisation_id FROM prog_returns WHERE cycle = $1) w
  LEFT JOIN organisations o ON o.organisation_id = w.organisation_id
"""


def sample_days(first: date, last: date) -> list[date]:
    """The days sampled: every seventh day from `first`, and `last`."""
    days = [first + timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]
    return days if days[-1] == last else [*days, last]


class _Counts:
    """Each organisation's questionnaires and sign-off, and per region how many organisations
    have submitted everything and have signed off, kept up to date event by event."""

    def __init__(self, regions: dict[str, str | None]) -> None:
        self.regions = regions
        self.states: dict[str, dict[str, str]] = {}
        self.signed: set[str] = set()
        self.done: set[str] = set()
        self.submitted: dict[str | None, int] = dict.fromkeys(regions.values(), 0)
        self.signed_off: dict[str | None, int] = dict.fromkeys(regions.values(), 0)

    def apply(self, kind: str, organisation: str, questionnaire: str | None) -> None:
        if organisation not in self.regions:
            return  # not in the cycle as the report sees it (e.g. only cancelled)
        region = self.regions[organisation]
        if kind in STATE and questionnaire:
            held = self.states.setdefault(organisation, {})
            held[questionnaire] = STATE[kind]
            owed = [s for s in held.values() if s != "cancelled"]
            now_done = bool(owed) and all(s == "submitted" for s in owed)
            if now_done != (organisation in self.done):
                self.submitted[region] += 1 if now_done else -1
                (self.done.add if now_done else self.done.discard)(organisation)
        elif kind in (SIGNED_OFF, REOPENED):
            now_signed = kind == SIGNED_OFF
            if now_signed != (organisation in self.signed):
                self.signed_off[region] += 1 if now_signed else -1
                (self.signed.add if now_signed else self.signed.discard)(organisation)


async def progress_over_time(conn: Connection, request: ReportRequest) -> ReportResult:
    """Per region and sampled day: organisations in the cycle, how many had submitted
    everything they owed (every questionnaire not cancelled) and how many had signed off
    (and not been reopened since), with each as a share of the region's organisations."""
    cycle = await cycle_row(conn, request)
    now = moment(request)
    regions = {r["organisation_id"]: r["region"] for r in await conn.fetch(_MEMBERS, request.cycle)}
    events = await conn.fetch(
        _EVENTS,
        [*STATE, SIGNED_OFF, REOPENED],
        request.cycle,
        now,
        request.as_at_position,
    )
    members: dict[str | None, int] = {}
    for region in regions.values():
        members[region] = members.get(region, 0) + 1
    counts = _Counts(regions)
    rows: list[dict[str, Any]] = []

    def sampled(day: date) -> None:
        for region in sorted(members, key=lambda r: r or "~"):
            whole = members[region]
            done, signed = counts.submitted[region], counts.signed_off[region]
            rows.append(
                {
                    "date": day.isoformat(),
                    "region": region,
                    "organisations": whole,
                    "submitted": done,
                    "percent_submitted": percent(done, whole),
                    "signed_off": signed,
                    "percent_signed_off": percent(signed, whole),
                }
            )

    if events:
        first = events[0]["occurred_at"].astimezone(LONDON).date()
        # Until the close, or the last event after it (extensions, reopenings); never beyond
        # the report's moment.
        ends = [events[-1]["occurred_at"], cycle["data_entry_closes"]]
        last = min(now, max(e for e in ends if e is not None)).astimezone(LONDON).date()
        samples = iter(sample_days(first, last))
        sample = next(samples)
        for event in events:
            day = event["occurred_at"].astimezone(LONDON).date()
            while day > sample:
                sampled(sample)
                sample = next(samples)
            counts.apply(event["type"], event["organisation_id"], event["questionnaire_id"])
        for rest in (sample, *samples):
            sampled(rest)
    latest = rows[-len(members) :] if rows else []
    return ReportResult(
        tables=[
            Table(
                "over_time",
                "Week by week, by region",
                [
                    Column("date", "Date"),
                    Column("region", "Region"),
                    Column("organisations", "Organisations"),
                    Column("submitted", "Submitted everything"),
                    Column("percent_submitted", "% submitted everything"),
                    Column("signed_off", "Signed off"),
                    Column("percent_signed_off", "% signed off"),
                ],
                rows,
            )
        ],
        summary={
            "organisations": len(regions),
            "submitted_everything": sum(r["submitted"] for r in latest),
            "signed_off": sum(r["signed_off"] for r in latest),
            "weeks": len({r["date"] for r in rows}),
        },
        about={"as_at": now},
    )


REPORTS = [
    Report(
        name="cycle-progress-over-time",
        title="Cycle progress week by week",
        description="Per region, week by week through the cycle: the share of the region's "
        "organisations that had submitted everything they owed (every questionnaire not "
        "cancelled), and that had signed off (and not been reopened since).",
        see_also=("cycle-progress",),
        projections=("progress", "organisations"),
        scope=Scope.NATIONAL,
        query=progress_over_time,
        leads_may_read=False,
    ),
]
