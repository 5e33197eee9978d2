"""Reports as at a named moment, over HTTP on a real database, at the exact boundary: each
moment is the journal position of the event that defines it, inclusive, and nothing after.

Each defining event here is recorded a few milliseconds after the time its payload names (as
the questionnaire service records them), and the next event of the history is recorded at the
very same instant: a replay up to the payload's time would miss the event itself (a report as
at the sign-off said "not signed off"), and one up to the event's own time would take in the
event after it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import CyclePhaseChanged, Phase
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.events.responses import QuestionnaireLocked
from progress_history import (
    CYCLE,
    TIMETABLE,
    at,
    extend,
    issue,
    ni51,
    organisations,
    reopen,
    save,
    schedule,
    submit,
)
from reporting_history import History

#: How long after the time in its payload the questionnaire service records an event.
LATER = timedelta(microseconds=12_498)


def phase(h: History, old: Phase, new: Phase, changed_at: datetime) -> EventEnvelope:
    """The cycle clock moving the cycle on at `changed_at`, recorded a moment later."""
    return h.add(
        CyclePhaseChanged(
            cycle=CYCLE, old_phase=old, phase=new, changed_at=changed_at, by_clock=True
        ),
        at=changed_at + LATER,
    )


def sign_off(h: History, org: str, signed_off_at: datetime) -> EventEnvelope:
    """The organisation signs off at `signed_off_at`; the events are recorded a moment later."""
    recorded = signed_off_at + LATER
    h.add(
        QuestionnaireLocked(
            organisation_id=org,
            cycle=CYCLE,
            questionnaire_id="qa-camhs",
            signed_off_at=signed_off_at,
            signed_off_by="lead",
        ),
        at=recorded,
    )
    return h.add(
        CycleSignedOff(
            organisation_id=org,
            cycle=CYCLE,
            signed_off_at=signed_off_at,
            signed_off_by="lead",
            questionnaires_submitted=1,
            questionnaires_issued=1,
            answers_count=2,
            ni51=[ni51(org, (4, 3, 2, 1))],
            organisation_name="Anytown Council",
        ),
        at=recorded,
    )


def history(h: History) -> dict[str, EventEnvelope]:
    """A cycle through summary reports, one sign-off and the close; after each defining
    event, another one at the same instant."""
    organisations(h)
    schedule(h)
    issue(h, "00AA", "qa-camhs", "camhs-partnership", "00AA")
    issue(h, "00BB", "qb-camhs", "camhs-partnership", "00BB")
    save(h, "00AA", "qa-camhs", at(11, 3), n=2)
    submit(h, "00AA", "qa-camhs", "camhs-partnership", at(11, 4))
    moments = {
        "summary-reports": phase(
            h, Phase.DATA_ENTRY, Phase.SUMMARY_REPORTS, TIMETABLE.summary_reports
        )
    }
    # 00BB's first answers, the same instant: in progress after the moment, not at it.
    save(h, "00BB", "qb-camhs", moments["summary-reports"].occurred_at)
    moments["sign-off"] = sign_off(h, "00AA", at(2, 10))
    # Reopened the same instant: after the moment, not at it.
    reopen(h, "00AA", moments["sign-off"].occurred_at, ["qa-camhs"], was=at(2, 10))
    moments["close"] = phase(h, Phase.SUMMARY_REPORTS, Phase.CLOSED, TIMETABLE.data_entry_closes)
    # An extension the same instant: after the moment, not at it.
    extend(h, "00BB", at(3, 14), moments["close"].occurred_at)
    return moments


async def report(app: Any, name: str, **params: str) -> dict[str, Any]:
    r = await app.client.get(f"/reports/{name}", headers=app.admin, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def rows_by(body: dict[str, Any], table: int, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in body["tables"][table]["rows"]}


async def test_a_report_as_at_each_named_moment_holds_its_event_and_nothing_after(
    reporting_app,
) -> None:
    moments = history(reporting_app.history)
    await reporting_app.record()
    app = reporting_app

    # Summary reports: the cycle is in that phase; 00BB's answers a moment later are not.
    body = await report(app, "cycle-progress", cycle=CYCLE, moment="summary-reports")
    assert body["about"]["as_at"] == moments["summary-reports"].occurred_at.isoformat()
    assert body["summary"]["phase"] == "summary-reports"
    bb = rows_by(body, 1, "code")["00BB"]
    assert (bb["not_started"], bb["in_progress"]) == (1, 0)
    live = await report(app, "cycle-progress", cycle=CYCLE)
    assert rows_by(live, 1, "code")["00BB"]["in_progress"] == 1

    # Sign-off: signed off, with its NI 51, and not yet reopened.
    signed = {"cycle": CYCLE, "moment": "sign-off", "organisation": "00AA"}
    body = await report(app, "return-progress", **signed)
    assert body["about"]["as_at"] == moments["sign-off"].occurred_at.isoformat()
    assert body["summary"]["signed_off"] is True and body["summary"]["reopenings"] == 0
    body = await report(app, "cqc-performance", **signed)
    aa = rows_by(body, 0, "area")["00AA"]
    assert aa["status"] == "signed off" and aa["score"] == 10
    assert aa["signed_off_at"].startswith("2010-02-10T12:00:00")
    body = await report(app, "camhs-partnership", area="00AA", **signed)
    assert body["summary"]["ni51_signed_off_score"] == 10
    # Live, it has been reopened since.
    live = await report(app, "return-progress", cycle=CYCLE, organisation="00AA")
    assert live["summary"]["signed_off"] is False and live["summary"]["reopenings"] == 1

    # The close: the cycle is closed; the extension granted a moment later is not there.
    body = await report(app, "cycle-progress", cycle=CYCLE, moment="close")
    assert body["about"]["as_at"] == moments["close"].occurred_at.isoformat()
    assert body["summary"]["phase"] == "closed" and body["summary"]["extended"] == 0
    live = await report(app, "cycle-progress", cycle=CYCLE)
    assert live["summary"]["extended"] == 1

    # A time asked for is still a time: as at the sign-off's own time, the reopening recorded
    # at that instant is in too; as at the time its payload names, the sign-off is not.
    at_time = {"cycle": CYCLE, "organisation": "00AA"}
    body = await report(
        app, "return-progress", as_at=moments["sign-off"].occurred_at.isoformat(), **at_time
    )
    assert body["summary"]["signed_off"] is False and body["summary"]["reopenings"] == 1
    body = await report(app, "return-progress", as_at=at(2, 10).isoformat(), **at_time)
    assert body["summary"]["signed_off"] is False and body["summary"]["reopenings"] == 0
