"""Delegation over HTTP: the delegate's link opens one questionnaire only; the round trip of
return, send back and accept; revocation, re-delegation and expiry refuse the old link."""

from typing import Any

import asyncpg


async def delegated_service(q: Any, org: str = "TR1") -> tuple[dict[str, Any], str, str]:
    """A service questionnaire delegated to a manager: (questionnaire, delegation id, token)."""
    await q.register(org, "nhs-trust-community")
    await q.schedule()
    await q.move_to(q.OPEN)
    await q.map_service(org)
    sq = await q.one(org, "service")
    r = await q.client.post(
        f"/questionnaires/{sq['id']}/delegations",
        headers=q.lead(org),
        json={"email": "manager@trust.nhs.uk", "message": "Over to you"},
    )
    assert r.status_code == 201, r.text
    delegation = r.json()["delegation"]
    assert delegation["email"] == "manager@trust.nhs.uk" and delegation["status"] == "active"
    assert delegation["expires_at"].startswith("2010-02-28")
    return sq, delegation["id"], q.links.delegation_token(sq["id"], delegation["id"])


def as_delegate(token: str) -> dict[str, str]:
    return {"X-Delegate-Token": token}


async def test_the_delegate_answers_and_returns_and_the_lead_accepts(questionnaire_app) -> None:
    async with questionnaire_app("q_del_round") as q:
        sq, did, token = await delegated_service(q)
        r = await q.client.get("/delegate/questionnaire", headers=as_delegate(token))
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["id"] == sq["id"] and view["status"] == "delegated" and view["can_edit"]
        assert "delegation" not in view  # the delegate does not see the lead's bookkeeping
        assert view["comment_from_lead"] == "Over to you"  # the note sent with the link
        # The rules come with the rendering, so a page can keep a running total.
        rules = {r["id"]: r for r in view["rules"]}
        assert rules["workforce_adds_up"]["total"] == "wte_total"
        assert "wte_nursing" in rules["workforce_adds_up"]["parts"]
        r = await q.client.patch(
            f"/delegate/questionnaires/{sq['id']}/answers",
            headers=as_delegate(token),
            json={"version": view["version"], "answers": {"camhs": True}},
        )
        assert r.status_code == 200, r.text
        r = await q.client.post(
            f"/delegate/questionnaires/{sq['id']}/return",
            headers=as_delegate(token),
            json={"comment": "Done, I think"},
        )
        assert r.status_code == 200 and r.json()["status"] == "returned"
        assert not r.json()["can_edit"]  # back with the lead
        # Named as people know it, on the delegate's pages too (they have no account).
        assert view["organisation_name"] == r.json()["organisation_name"] == "Organisation TR1"
        r = await q.client.patch(
            f"/delegate/questionnaires/{sq['id']}/answers",
            headers=as_delegate(token),
            json={"version": r.json()["version"], "answers": {"camhs": False}},
        )
        assert r.status_code == 409
        # The lead sends it back with a comment; the delegate sees the comment and goes on.
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations/{did}/send-back",
            headers=q.lead("TR1"),
            json={"comment": "Please add the tier"},
        )
        assert r.status_code == 200 and r.json()["status"] == "delegated"
        r = await q.client.get(f"/delegate/questionnaires/{sq['id']}", headers=as_delegate(token))
        assert r.json()["comment_from_lead"] == "Please add the tier" and r.json()["can_edit"]
        r = await q.client.patch(
            f"/delegate/questionnaires/{sq['id']}/answers",
            headers=as_delegate(token),
            json={"version": r.json()["version"], "answers": {"camhs_tier": "2"}},
        )
        assert r.status_code == 200
        await q.client.post(
            f"/delegate/questionnaires/{sq['id']}/return", headers=as_delegate(token), json={}
        )
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations/{did}/accept", headers=q.lead("TR1")
        )
        assert r.status_code == 200, r.text
        assert (
            r.json()["status"] == "in-progress" and r.json()["delegation"]["status"] == "accepted"
        )
        # Accepted: the link has done its job.
        r = await q.client.get("/delegate/questionnaire", headers=as_delegate(token))
        assert r.status_code == 410 and "accepted" in r.json()["error"]
        # Who did what is in the history: the delegate's saves are marked as theirs.
        history = (
            await q.client.get(f"/questionnaires/{sq['id']}/history", headers=q.lead("TR1"))
        ).json()
        saves = [h for h in history if h["event"] == "AnswersSaved"]
        assert {h["via"] for h in saves} == {"delegate"}
        assert all(h["actor"] == f"delegate:{did}" for h in saves)
        assert [h["event"] for h in history] == [
            "QuestionnaireIssued",
            "QuestionnaireDelegated",
            "AnswersSaved",
            "QuestionnaireReturned",
            "QuestionnaireSentBack",
            "AnswersSaved",
            "QuestionnaireReturned",
            "DelegationAccepted",
        ]


async def test_a_link_opens_its_own_questionnaire_only(questionnaire_app) -> None:
    async with questionnaire_app("q_del_scope") as q:
        sq, did, token = await delegated_service(q)
        await q.map_service("TR1")
        other = next(o for o in await q.owed("TR1") if o["id"] != sq["id"])
        r = await q.client.get(
            f"/delegate/questionnaires/{other['id']}", headers=as_delegate(token)
        )
        assert r.status_code == 404
        forged = q.links.delegation_token(other["id"], did)[:-4] + "AAAA"
        r = await q.client.get(
            f"/delegate/questionnaires/{other['id']}", headers=as_delegate(forged)
        )
        assert r.status_code == 404
        assert (await q.client.get("/delegate/questionnaire")).status_code == 404
        # A genuine-looking token for a delegation that does not exist.
        r = await q.client.get(
            "/delegate/questionnaire",
            headers=as_delegate(q.links.delegation_token(sq["id"], "nope")),
        )
        assert r.status_code == 404


async def test_revocation_and_re_delegation_end_the_old_link(questionnaire_app) -> None:
    async with questionnaire_app("q_del_revoke") as q:
        sq, _did, token = await delegated_service(q)
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations",
            headers=q.lead("TR1"),
            json={"email": "someone.else@trust.nhs.uk"},
        )
        assert r.status_code == 201
        second = r.json()["delegation"]["id"]
        r = await q.client.get("/delegate/questionnaire", headers=as_delegate(token))
        assert r.status_code == 410 and "withdrawn" in r.json()["error"]
        token2 = q.links.delegation_token(sq["id"], second)
        assert (
            await q.client.get("/delegate/questionnaire", headers=as_delegate(token2))
        ).status_code == 200
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations/{second}/revoke",
            headers=q.lead("TR1"),
            json={"reason": "wrong person"},
        )
        assert r.status_code == 200 and r.json()["status"] == "not-started"
        assert (
            await q.client.get("/delegate/questionnaire", headers=as_delegate(token2))
        ).status_code == 410
        rows = (
            await q.client.get(f"/questionnaires/{sq['id']}/delegations", headers=q.lead("TR1"))
        ).json()
        assert [(d["email"], d["status"]) for d in rows] == [
            ("manager@trust.nhs.uk", "revoked"),
            ("someone.else@trust.nhs.uk", "revoked"),
        ]
        # The events carry the delegation ids and addresses, never a token.
        conn = await asyncpg.connect(q.dsn)
        try:
            data = [r["data"] for r in await conn.fetch("SELECT data FROM events")]
        finally:
            await conn.close()
        assert not any(token.split(".")[-1] in d or token2.split(".")[-1] in d for d in data)


async def test_a_link_expires_when_data_entry_closes(questionnaire_app) -> None:
    async with questionnaire_app("q_del_expiry") as q:
        _sq, _did, token = await delegated_service(q)
        await q.move_to(q.AFTER_CLOSE)
        r = await q.client.get("/delegate/questionnaire", headers=as_delegate(token))
        assert r.status_code == 410 and "expired" in r.json()["error"]


async def test_a_delegation_needs_a_real_email_address(questionnaire_app) -> None:
    async with questionnaire_app("q_del_email") as q:
        sq, _, _ = await delegated_service(q)
        r = await q.client.post(
            f"/questionnaires/{sq['id']}/delegations",
            headers=q.lead("TR1"),
            json={"email": "not an address"},
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "email"


async def test_lead_and_delegate_editing_at_once_lose_nothing(questionnaire_app) -> None:
    async with questionnaire_app("q_del_race") as q:
        sq, _did, token = await delegated_service(q)
        version = (await q.client.get(f"/questionnaires/{sq['id']}", headers=q.lead("TR1"))).json()[
            "version"
        ]
        lead = await q.client.patch(
            f"/questionnaires/{sq['id']}/answers",
            headers=q.lead("TR1"),
            json={"version": version, "answers": {"wte_total": 5}},
        )
        delegate = await q.client.patch(
            f"/delegate/questionnaires/{sq['id']}/answers",
            headers=as_delegate(token),
            json={"version": version, "answers": {"wte_total": 7}},
        )
        assert lead.status_code == 200 and delegate.status_code == 409
        assert delegate.json()["details"][0]["field"] == "wte_total"
        assert delegate.json()["details"][0]["new"] == 5
        # Submitting while the delegate still has it is refused with the reason.
        r = await q.client.post(f"/questionnaires/{sq['id']}/submit", headers=q.lead("TR1"))
        assert r.status_code == 409 and "delegate" in r.json()["error"]
