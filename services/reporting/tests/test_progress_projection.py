"""The progress projection: every event it reads, in small batches, in one range, one at a
time, and rebuilt."""

from __future__ import annotations

from importlib import resources

from csm_contracts.events.responses import QuestionnaireLocked, QuestionnaireUnlocked
from csm_kernel.database import connect_pool, migrate
from progress_history import (
    CYCLE,
    _base,
    at,
    delegate,
    delegation_step,
    issue,
    organisations,
    progress_history,
    retime,
    save,
    schedule,
    snapshot,
    submit,
    withdraw,
)
from reporting.adapters import journal
from reporting.adapters.projections import PROJECTIONS
from reporting.adapters.projections.progress import PROJECTION
from reporting.adapters.projector import Projector


async def _rows(db, table: str, key: str) -> dict:
    rows = await db.pool.fetch(f"SELECT * FROM rm_progress.{table}")
    return {r[key]: dict(r) for r in rows}


async def test_the_whole_cycle_shapes_every_table(reporting_db) -> None:
    progress_history(reporting_db.history)
    retime(reporting_db.history, summary_reports=at(1, 25, 0), when=at(3, 10))
    await reporting_db.record()

    [cycle] = (await _rows(reporting_db, "prog_cycles", "cycle")).values()
    assert cycle["phase"] == "data-entry" and cycle["phase_changed_at"] == at(11, 1, 1)
    assert cycle["opened_at"] == at(11, 1, 1) and cycle["previous_cycle"] == "2008-09"
    assert cycle["summary_reports"] == at(1, 25, 0) and cycle["timetable_changes"] == 1
    assert cycle["data_entry_closes"] == at(2, 28, 23)

    q = await _rows(reporting_db, "prog_questionnaires", "questionnaire_id")
    assert {k: v["status"] for k, v in q.items()} == {
        "qa-camhs": "submitted",
        "qa-trust": "submitted",
        "qp-self": "not-started",
        "qp-svc1": "cancelled",
        "qp-svc2": "delegated",
        "qb-camhs": "in-progress",
    }
    camhs, trust = q["qa-camhs"], q["qa-trust"]
    assert camhs["kind"] == "camhs-partnership" and camhs["subject_kind"] == "area"
    assert (camhs["saves"], camhs["delegate_saves"], camhs["answers_changed"]) == (2, 1, 4)
    assert camhs["delegated_at"] == at(11, 4) and camhs["returned_at"] == at(11, 6)
    assert camhs["submitted_at"] == at(11, 8) and camhs["locked"] is True
    # Withdrawn and submitted again; saves after the (moved) summary-reports date count.
    assert trust["submissions"] == 2 and trust["withdrawals"] == 1
    assert trust["first_submitted_at"] == at(11, 16) and trust["submitted_at"] == at(1, 21)
    assert trust["returns"] == 2 and trust["first_saved_at"] == at(11, 10)
    assert trust["last_saved_at"] == at(1, 20)
    assert trust["changes_after_summary"] == 0  # 20 January is before the new 25 January
    assert q["qb-camhs"]["changes_after_summary"] == 1
    assert q["qp-svc1"]["cancel_reason"] == "service withdrawn"
    assert q["qp-svc2"]["delegations"] == 2 and q["qp-svc2"]["last_delegated_at"] == at(12, 3)

    d = await _rows(reporting_db, "prog_delegations", "delegation_id")
    assert {k: v["status"] for k, v in d.items()} == {
        "d1": "accepted",
        "d2": "accepted",
        "d3": "superseded",
        "d4": "active",
    }
    assert d["d2"]["times_returned"] == 2 and d["d2"]["times_sent_back"] == 1
    assert d["d2"]["first_returned_at"] == at(11, 11) and d["d2"]["returned_at"] == at(11, 14)
    assert d["d3"]["superseded_by"] == "d4" and d["d3"]["revoked_at"] == at(12, 3)
    assert d["d4"]["supersedes"] == "d3"

    r = await _rows(reporting_db, "prog_returns", "organisation_id")
    assert r["00AA"]["sign_offs"] == 2 and r["00AA"]["signed_off"] is True
    assert r["00AA"]["first_signed_off_at"] == at(2, 10)
    assert r["00AA"]["last_signed_off_at"] == at(3, 5)
    assert r["00AA"]["reopenings"] == 1 and r["00AA"]["reopenings_after_sign_off"] == 1
    assert r["00AA"]["last_reopen_reason"] == "fix NI 51"
    assert r["5A4"]["extension_until"] == at(3, 14) and r["5A4"]["extension_reason"] == "flood"
    assert "00BB" not in r

    [ni51] = (await _rows(reporting_db, "prog_ni51", "area")).values()
    assert (
        ni51["learning_disabilities"],
        ni51["urgent_24_hour_cover"],
        ni51["age_16_17"],
        ni51["early_intervention"],
        ni51["score"],
    ) == (4, 4, 2, 1, 11)
    assert ni51["signed_off"] is True and ni51["signed_off_at"] == at(3, 5)
    assert ni51["first_signed_off_at"] == at(2, 10)


async def test_a_reopened_return_is_no_longer_signed_off(reporting_db) -> None:
    h = reporting_db.history
    history = progress_history(h)
    # Record only up to the reopening: what follows it is the re-sign-off.
    cut = h.envelopes.index(history["reopened"]) + 3  # the two unlocks follow it
    await reporting_db.record(h.envelopes[:cut])
    r = await reporting_db.pool.fetchrow(
        "SELECT * FROM rm_progress.prog_returns WHERE organisation_id = '00AA'"
    )
    assert r["signed_off"] is False and r["last_signed_off_at"] == at(2, 10)
    n = await reporting_db.pool.fetchrow("SELECT * FROM rm_progress.prog_ni51")
    assert n["signed_off"] is False and n["reopened_at"] == at(3, 2) and n["score"] == 10
    locked = await reporting_db.pool.fetchval(
        "SELECT bool_or(locked) FROM rm_progress.prog_questionnaires WHERE organisation_id = '00AA'"
    )
    assert locked is False


async def test_status_after_a_delegation_ends_depends_on_what_was_saved(reporting_db) -> None:
    h = reporting_db.history
    organisations(h)
    schedule(h)
    for qid in ("q1", "q2", "q3"):
        issue(h, "00AA", qid, "service", qid)
    # q1: delegated and revoked with nothing saved: not started again.
    delegate(h, "00AA", "q1", "x1", at(11, 3))
    delegation_step(h, "00AA", "q1", "x1", "revoked", at(11, 4))
    # q2: the same, then a save: in progress.
    delegate(h, "00AA", "q2", "x2", at(11, 3))
    delegation_step(h, "00AA", "q2", "x2", "revoked", at(11, 4))
    save(h, "00AA", "q2", at(11, 5))
    # q3: saved by the delegate, returned and accepted: in progress.
    delegate(h, "00AA", "q3", "x3", at(11, 3))
    save(h, "00AA", "q3", at(11, 4), delegation="x3")
    delegation_step(h, "00AA", "q3", "x3", "returned", at(11, 5))
    delegation_step(h, "00AA", "q3", "x3", "accepted", at(11, 6))
    events = list(h.envelopes)
    # Each one at a time, then everything in one range (a rebuild): the same answer.
    for envelope in events:
        await reporting_db.record([envelope])
    status = await _rows(reporting_db, "prog_questionnaires", "questionnaire_id")
    assert {k: v["status"] for k, v in status.items()} == {
        "q1": "not-started",
        "q2": "in-progress",
        "q3": "in-progress",
    }
    before = await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables)
    await reporting_db.projector.rebuild(PROJECTION)
    assert await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables) == before
    h.take()


async def test_one_range_one_event_at_a_time_and_rebuilt_agree(reporting_db, infra) -> None:
    h = reporting_db.history
    progress_history(h)
    retime(h, summary_reports=at(1, 10, 0), when=at(1, 30))
    save(h, "00BB", "qb-camhs", at(2, 2), n=3)
    submit(h, "00BB", "qb-camhs", "camhs-partnership", at(2, 3))
    events = list(h.envelopes)
    await reporting_db.record()  # live, in ranges of 7
    live = await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables)

    # The whole history as one range.
    await reporting_db.projector.rebuild(PROJECTION)
    assert await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables) == live

    # One event per range, in a database of its own.
    pool = await connect_pool(await infra.create_database("rep1"), size=2)
    try:
        await migrate(pool, "reporting", resources.files("reporting.adapters").joinpath("sql"))
        projector = Projector(pool, PROJECTIONS, batch=1)
        await projector.prepare()
        async with pool.acquire() as conn, conn.transaction():
            await journal.record(conn, events)
        await projector.catch_up_all()
        assert await snapshot(pool, "rm_progress", PROJECTION.tables) == live
    finally:
        await pool.close()
    assert live["prog_questionnaires"] and live["prog_ni51"] and live["prog_delegations"]


async def test_answers_after_the_summary_reports_follow_the_timetable(reporting_db) -> None:
    h = reporting_db.history
    organisations(h)
    schedule(h)
    issue(h, "00AA", "q1", "service", "s1")
    save(h, "00AA", "q1", at(1, 10), n=2)
    save(h, "00AA", "q1", at(1, 20), n=3)
    await reporting_db.record()

    async def after() -> int:
        return await reporting_db.pool.fetchval(
            "SELECT changes_after_summary FROM rm_progress.prog_questionnaires"
        )

    assert await after() == 3  # the summary reports are on 15 January
    retime(h, summary_reports=at(1, 5, 0), when=at(1, 21))
    await reporting_db.record()
    assert await after() == 5
    save(h, "00AA", "q1", at(1, 22), n=1)
    await reporting_db.record()
    assert await after() == 6
    assert CYCLE == "2009-10"


async def test_saves_journalled_before_their_cycle_is_scheduled_are_counted_once_it_is(
    reporting_db,
) -> None:
    """Events of one cycle reach the journal through several partitions, so saves can come
    before the cycle's schedule: the schedule's range counts them against its timetable,
    whether they were applied in an earlier range or come in the same one."""
    h = reporting_db.history
    organisations(h)
    issue(h, "00AA", "q1", "service", "s1")
    save(h, "00AA", "q1", at(1, 10), n=2)
    save(h, "00AA", "q1", at(1, 20), n=3)  # after the summary reports (15 January)
    await reporting_db.record()
    issue(h, "00AA", "q2", "service", "s2")
    save(h, "00AA", "q2", at(1, 21), n=4)
    schedule(h)
    await reporting_db.record()
    counts = await reporting_db.pool.fetch(
        "SELECT questionnaire_id, changes_after_summary FROM rm_progress.prog_questionnaires"
    )
    assert {r["questionnaire_id"]: r["changes_after_summary"] for r in counts} == {
        "q1": 3,
        "q2": 4,
    }


async def test_the_last_of_each_kind_in_a_range_wins(reporting_db) -> None:
    """Submissions and withdrawals, locks and unlocks, delegations and their ends, several in
    one range: the last of each decides, the same applied one by one or all at once."""
    h = reporting_db.history
    organisations(h)
    schedule(h)
    for qid in ("q1", "q2", "q3", "q4"):
        issue(h, "00AA", qid, "service", qid)
    # q1: submitted, withdrawn: in progress, nothing submitted standing.
    save(h, "00AA", "q1", at(11, 3))
    submit(h, "00AA", "q1", "service", at(11, 4))
    withdraw(h, "00AA", "q1", at(11, 5))
    # q2: submitted, withdrawn, submitted again, then locked, unlocked and locked again.
    submit(h, "00AA", "q2", "service", at(11, 4))
    withdraw(h, "00AA", "q2", at(11, 5))
    submit(h, "00AA", "q2", "service", at(11, 6))
    for step, day in (("lock", 7), ("unlock", 8), ("lock", 9)):
        payload = (
            QuestionnaireLocked(
                **_base("00AA", "q2"), signed_off_at=at(11, day), signed_off_by="lead"
            )
            if step == "lock"
            else QuestionnaireUnlocked(**_base("00AA", "q2"), reason="reopened")
        )
        h.add(payload, at=at(11, day))
    # q3: delegated, revoked, saved after: in progress; q4: delegated, returned, sent back.
    delegate(h, "00AA", "q3", "x3", at(11, 3))
    delegation_step(h, "00AA", "q3", "x3", "revoked", at(11, 4))
    save(h, "00AA", "q3", at(11, 5))
    delegate(h, "00AA", "q4", "x4", at(11, 3))
    delegation_step(h, "00AA", "q4", "x4", "returned", at(11, 4))
    delegation_step(h, "00AA", "q4", "x4", "sent-back", at(11, 5))
    for envelope in list(h.envelopes):  # one event per range
        await reporting_db.record([envelope])
    q = await _rows(reporting_db, "prog_questionnaires", "questionnaire_id")
    assert {k: v["status"] for k, v in q.items()} == {
        "q1": "in-progress",
        "q2": "submitted",
        "q3": "in-progress",
        "q4": "delegated",
    }
    assert q["q1"]["submitted_at"] is None and q["q1"]["submitted_by"] is None
    assert (q["q1"]["submissions"], q["q1"]["withdrawals"]) == (1, 1)
    assert q["q2"]["submitted_at"] == at(11, 6) and q["q2"]["submitted_by"] == "lead"
    assert q["q2"]["locked"] is True and q["q2"]["first_submitted_at"] == at(11, 4)
    live = await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables)
    await reporting_db.projector.rebuild(PROJECTION)  # one range
    assert await snapshot(reporting_db.pool, "rm_progress", PROJECTION.tables) == live
    h.take()
