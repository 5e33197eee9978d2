"""The `questionnaires` rows are a snapshot cache: a row plus its stream's tail is the state a
full replay gives, a row that lags (or goes back) is never served stale, and the stream version
alone guards concurrency, a sign-off's lock included (issue #4)."""

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg

from csm_kernel.event_sourcing import decode_event
from csm_kernel.store import AppendContext
from questionnaire.domain import questionnaire as decide
from questionnaire.domain.errors import ReturnLocked
from questionnaire.domain.questionnaire import Questionnaire, replay

from .test_sign_off_http import la_with_everything_submitted, sign_off


async def _replayed(q: Any, qid: str) -> Questionnaire:
    events = await q.services.questionnaire_repo.events(qid)
    state = replay((decode_event(e).payload, e.occurred_at) for e in events)
    assert state is not None
    return state


async def _row(q: Any, qid: str) -> asyncpg.Record:
    conn = await asyncpg.connect(q.dsn)
    try:
        return await conn.fetchrow("SELECT * FROM questionnaires WHERE id = $1", qid)
    finally:
        await conn.close()


async def _save(q: Any, org: str, qid: str, version: int, answers: dict[str, Any]) -> Any:
    return await q.client.patch(
        f"/questionnaires/{qid}/answers",
        headers=q.lead(org),
        json={"version": version, "answers": answers},
    )


async def _open_pct(q: Any) -> dict[str, Any]:
    """A PCT's commissioning self-assessment in data entry (44 scored questions)."""
    await q.register("PCT1", "pct")
    await q.schedule()
    await q.move_to(q.OPEN)
    return await q.one("PCT1", "self-assessment")


def _scale_questions(view: dict[str, Any]) -> list[str]:
    return [
        question["id"]
        for section in view["sections"]
        for question in section["questions"]
        if question["type"] == "scored_scale" and question.get("show_if") is None
    ]


async def test_a_row_and_its_tail_give_the_state_a_full_replay_gives(questionnaire_app) -> None:
    async with questionnaire_app("q_snap_replay") as q:
        view = await _open_pct(q)
        qid, version = view["id"], view["version"]
        repo, snapshots = q.services.questionnaire_repo, q.services.snapshots
        snapshots.interval = 3600  # the background writer stays out of the way after this
        await asyncio.sleep(0.5)
        flushed_once = False
        for n, question in enumerate(_scale_questions(view)[:6]):
            answer = {"score": 1 + n % 3, "evidence": f"minutes {n}"}
            r = await _save(q, "PCT1", qid, version, {question: answer})
            assert r.status_code == 200, r.text
            version = r.json()["version"]
            if n == 2:  # part of the history in the row, the rest in the tail
                await snapshots.flush()
                flushed_once = True
        # A delegation and its revocation (the transactional path, which writes the row).
        r = await q.client.post(
            f"/questionnaires/{qid}/delegations",
            headers=q.lead("PCT1"),
            json={"email": "someone@example.org"},
        )
        assert r.status_code == 201, r.text
        r = await _save(q, "PCT1", qid, r.json()["version"], {_scale_questions(view)[0]: None})
        assert r.status_code == 200, r.text
        assert flushed_once
        row = await _row(q, qid)
        loaded = (await repo.load(qid)).questionnaire
        assert row["version"] < loaded.version  # the last save is still only in the tail
        assert loaded == await _replayed(q, qid)
        await snapshots.flush()
        row = await _row(q, qid)
        assert row["version"] == loaded.version
        assert (await repo.load(qid)).questionnaire == await _replayed(q, qid)


async def test_a_lagging_or_lost_snapshot_is_never_served(questionnaire_app) -> None:
    async with questionnaire_app("q_snap_stale") as q:
        view = await _open_pct(q)
        qid, version = view["id"], view["version"]
        questions = _scale_questions(view)
        for question in questions[:4]:
            r = await _save(q, "PCT1", qid, version, {question: {"score": 2, "evidence": "x"}})
            assert r.status_code == 200, r.text
            version = r.json()["version"]
        await q.services.snapshots.flush()
        # As if every snapshot write since issue had been lost (a crash between batches).
        conn = await asyncpg.connect(q.dsn)
        try:
            await conn.execute(
                "UPDATE questionnaires SET version = 1, answers = '{}', status = 'not-started' "
                "WHERE id = $1",
                qid,
            )
        finally:
            await conn.close()
        got = (await q.client.get(f"/questionnaires/{qid}", headers=q.lead("PCT1"))).json()
        assert got["version"] == version and got["status"] == "in-progress"
        assert {k for k, v in _answers(got).items() if v is not None} == set(questions[:4])
        listed = [item for item in await q.owed("PCT1") if item["id"] == qid]
        assert listed[0]["version"] == version
        # The version a stale row shows is not a concurrency token: saving at it is a 409.
        r = await _save(q, "PCT1", qid, 1, {questions[5]: {"score": 1, "evidence": "y"}})
        assert r.status_code == 409
        r = await _save(q, "PCT1", qid, version, {questions[5]: {"score": 1, "evidence": "y"}})
        assert r.status_code == 200, r.text
        # The load remembered the state it rebuilt: the row catches up, and an older state
        # written later does not move it back.
        await q.services.snapshots.flush()
        assert (await _row(q, qid))["version"] == version + 1
        q.services.snapshots.remember(replace(await _replayed(q, qid), version=2, answers={}))
        await q.services.snapshots.flush()
        assert (await _row(q, qid))["version"] == version + 1


def _answers(view: dict[str, Any]) -> dict[str, Any]:
    return {qn["id"]: qn["answer"] for s in view["sections"] for qn in s["questions"]}


async def test_a_change_decided_before_a_sign_off_is_refused_after_it(questionnaire_app) -> None:
    async with questionnaire_app("q_snap_race") as q:
        done = await la_with_everything_submitted(q)
        repo = q.services.questionnaire_repo
        before = (await repo.load(done[0]["id"])).questionnaire  # read before the sign-off
        assert (await sign_off(q)).status_code == 200
        events = decide.withdraw_submission(before, "decided before the sign-off")
        try:
            await repo.save(before, events, AppendContext(actor="test"), q.clock.now())
        except ReturnLocked:
            pass
        else:
            raise AssertionError("a change decided before the sign-off went through after it")
        after = (await repo.load(done[0]["id"])).questionnaire
        assert after.locked and after.status.value == "submitted"
        history = (
            await q.client.get(f"/questionnaires/{done[0]['id']}/history", headers=q.lead("LA1"))
        ).json()
        assert history[-1]["event"] == "QuestionnaireLocked"


async def test_a_withdrawal_racing_a_sign_off_one_or_the_other_wins(questionnaire_app) -> None:
    async with questionnaire_app("q_snap_race_http") as q:
        done = await la_with_everything_submitted(q)
        qid = done[0]["id"]
        withdraw = q.client.post(
            f"/questionnaires/{qid}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "one more figure"},
        )
        signed, withdrawn = await asyncio.gather(sign_off(q), withdraw)
        assert sorted([signed.status_code, withdrawn.status_code]) == [200, 409]
        state = (await q.services.questionnaire_repo.load(qid)).questionnaire
        if signed.status_code == 200:
            assert state.locked and state.status.value == "submitted"
        else:
            assert not state.locked and state.status.value == "in-progress"


async def test_reopening_unlocks_and_saves_go_through_again(questionnaire_app) -> None:
    async with questionnaire_app("q_snap_reopen") as q:
        done = await la_with_everything_submitted(q)
        [qid] = [d["id"] for d in done if d["kind"] == "camhs-partnership"]
        assert (await sign_off(q)).status_code == 200
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/reopen", headers=q.admin, json={"reason": "CQC query"}
        )
        assert r.status_code == 200, r.text
        for item in done:
            state = (await q.services.questionnaire_repo.load(item["id"])).questionnaire
            assert not state.locked
        r = await q.client.post(
            f"/questionnaires/{qid}/withdraw-submission",
            headers=q.lead("LA1"),
            json={"reason": "fix"},
        )
        assert r.status_code == 200, r.text
        view = (await q.client.get(f"/questionnaires/{qid}", headers=q.lead("LA1"))).json()
        assert view["can_edit"]
        question = _scale_questions(view)[0]
        r = await _save(q, "LA1", qid, view["version"], {question: {"score": 1, "evidence": "z"}})
        assert r.status_code == 200, r.text
        events = [
            e["event"]
            for e in (
                await q.client.get(f"/questionnaires/{qid}/history", headers=q.lead("LA1"))
            ).json()
        ]
        assert events[-4:] == [
            "QuestionnaireLocked",
            "QuestionnaireUnlocked",
            "SubmissionWithdrawn",
            "AnswersSaved",
        ]
