"""Histories for the progress and directory tests: a cycle, organisations, questionnaires
and services, built from real contract payloads (pure: they only add to a `History`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import (
    CyclePhaseChanged,
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    ReturnReopened,
    Timetable,
)
from csm_contracts.events.directory import (
    ServiceCarriedForward,
    ServiceConfirmed,
    ServiceRegistered,
    ServiceRevised,
    ServiceWithdrawn,
)
from csm_contracts.events.questionnaire import (
    CycleOpened,
    CycleSignedOff,
    NI51AreaScore,
    QuestionnaireDelegated,
    ResponseSubmitted,
)
from csm_contracts.events.responses import (
    AnswerChange,
    AnswersSavedV2,
    DelegationAccepted,
    DelegationRevoked,
    QuestionnaireCancelled,
    QuestionnaireIssued,
    QuestionnaireLocked,
    QuestionnaireReturned,
    QuestionnaireSentBack,
    QuestionnaireUnlocked,
    SubmissionWithdrawn,
)
from reporting_history import History

CYCLE = "2009-10"
LAST_CYCLE = "2008-09"


def at(month: int, day: int, hour: int = 12, year: int | None = None) -> datetime:
    """A moment in the 2009-10 cycle (November and December are 2009, the rest 2010)."""
    return datetime(year or (2009 if month >= 10 else 2010), month, day, hour, tzinfo=UTC)


TIMETABLE = Timetable(
    sandbox_opens=at(10, 1, 0),
    data_entry_opens=at(11, 1, 0),
    summary_reports=at(1, 15, 0),
    data_entry_closes=at(2, 28, 23),
    publication=at(4, 1, 0),
)


def organisations(h: History) -> None:
    """Two London organisations (an LA and a PCT) and a north-east LA."""
    for code, name, kind, region in (
        ("00AA", "Anytown Council", "local-authority", "london"),
        ("5A4", "Anytown PCT", "pct", "london"),
        ("00BB", "Northby Council", "local-authority", "north-east"),
    ):
        areas = [code] if kind == "local-authority" else ["00AA"]
        h.add(
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                name=name,
                kind=kind,
                region=region,
                partnership_areas=areas,
            ),
            at=at(10, 2),
        )


def schedule(h: History, cycle: str = CYCLE, timetable: Timetable = TIMETABLE) -> EventEnvelope:
    """Schedule the cycle, open it and move it into data entry."""
    e = h.add(
        CycleScheduled(cycle=cycle, previous_cycle=LAST_CYCLE, timetable=timetable), at=at(10, 3)
    )
    h.add(
        CyclePhaseChanged(
            cycle=cycle,
            old_phase="scheduled",
            phase="sandbox",
            changed_at=timetable.sandbox_opens,
            by_clock=True,
        ),
        at=at(10, 4),
    )
    h.add(
        CycleOpened(cycle=cycle, previous_cycle=LAST_CYCLE, opened_at=at(11, 1, 1)), at=at(11, 1, 1)
    )
    h.add(
        CyclePhaseChanged(
            cycle=cycle,
            old_phase="sandbox",
            phase="data-entry",
            changed_at=at(11, 1, 1),
            by_clock=True,
        ),
        at=at(11, 1, 1),
    )
    return e


def retime(h: History, summary_reports: datetime, when: datetime) -> EventEnvelope:
    """Move the summary-reports date."""
    new = TIMETABLE.model_copy(update={"summary_reports": summary_reports})
    return h.add(
        CycleTimetableChanged(
            cycle=CYCLE, old_timetable=TIMETABLE, new_timetable=new, reason="late data"
        ),
        at=when,
    )


def _base(org: str, qid: str) -> dict[str, Any]:
    return {"organisation_id": org, "cycle": CYCLE, "questionnaire_id": qid}


def issue(
    h: History,
    org: str,
    qid: str,
    kind: str,
    subject: str,
    group: str | None = None,
    when: datetime | None = None,
) -> EventEnvelope:
    """Issue questionnaire `qid` of definition `kind` to `org`."""
    subject_kind = {"service": "service", "camhs-partnership": "area"}.get(kind, "organisation")
    return h.add(
        QuestionnaireIssued(
            **_base(org, qid),
            definition=f"{kind}@1",
            title=f"{kind}: {subject}",
            subject_kind=subject_kind,
            subject_id=subject,
            group_id=group,
        ),
        at=when or at(11, 2),
    )


def save(
    h: History, org: str, qid: str, when: datetime, n: int = 1, delegation: str | None = None
) -> EventEnvelope:
    """Save `n` answer changes."""
    changes = [AnswerChange(question=f"q{i}", old=None, new=i) for i in range(n)]
    return h.add(
        AnswersSavedV2(
            **_base(org, qid),
            changes=changes,
            via="delegate" if delegation else "account",
            delegation_id=delegation,
            answered=n,
        ),
        at=when,
    )


def delegate(
    h: History, org: str, qid: str, did: str, when: datetime, supersedes: str | None = None
) -> EventEnvelope:
    """Delegate (re-delegating revokes the old delegation first, as the service does)."""
    if supersedes:
        h.add(
            DelegationRevoked(
                **_base(org, qid),
                delegation_id=supersedes,
                delegate_email=f"{supersedes}@example.org",
                reason="re-delegated",
            ),
            at=when,
        )
    return h.add(
        QuestionnaireDelegated(
            **_base(org, qid),
            delegation_id=did,
            delegate_email=f"{did}@example.org",
            delegated_by="lead",
            expires_at=when + timedelta(days=30),
            supersedes=supersedes,
        ),
        at=when,
    )


def delegation_step(
    h: History, org: str, qid: str, did: str, step: str, when: datetime
) -> EventEnvelope:
    """returned / accepted / sent-back / revoked."""
    common = {**_base(org, qid), "delegation_id": did, "delegate_email": f"{did}@example.org"}
    payload = {
        "returned": lambda: QuestionnaireReturned(**common, comment="done"),
        "accepted": lambda: DelegationAccepted(**common),
        "sent-back": lambda: QuestionnaireSentBack(**common, comment="more please"),
        "revoked": lambda: DelegationRevoked(**common, reason="not needed"),
    }[step]()
    return h.add(payload, at=when)


def submit(h: History, org: str, qid: str, kind: str, when: datetime) -> EventEnvelope:
    """Submit the questionnaire."""
    return h.add(
        ResponseSubmitted(
            **_base(org, qid), definition=f"{kind}@1", submitted_by="lead", answers={"q0": 0}
        ),
        at=when,
    )


def withdraw(h: History, org: str, qid: str, when: datetime) -> EventEnvelope:
    """Withdraw a submission."""
    return h.add(SubmissionWithdrawn(**_base(org, qid), reason="a mistake"), at=when)


def cancel(h: History, org: str, qid: str, when: datetime) -> EventEnvelope:
    """Cancel a questionnaire."""
    return h.add(QuestionnaireCancelled(**_base(org, qid), reason="service withdrawn"), at=when)


def ni51(area: str, scores: tuple[int, int, int, int]) -> NI51AreaScore:
    """One area's NI 51."""
    a, b, c, d = scores
    return NI51AreaScore(
        area=area,
        learning_disabilities=a,
        urgent_24_hour_cover=b,
        age_16_17=c,
        early_intervention=d,
        score=a + b + c + d,
    )


def sign_off(
    h: History,
    org: str,
    when: datetime,
    qids: list[str],
    areas: list[NI51AreaScore] | None = None,
    supersedes: datetime | None = None,
) -> EventEnvelope:
    """Sign the return off (locking each questionnaire first, as the service does)."""
    for qid in qids:
        h.add(
            QuestionnaireLocked(**_base(org, qid), signed_off_at=when, signed_off_by="lead"),
            at=when,
        )
    return h.add(
        CycleSignedOff(
            organisation_id=org,
            cycle=CYCLE,
            signed_off_at=when,
            signed_off_by="lead",
            questionnaires_submitted=len(qids),
            questionnaires_issued=len(qids),
            answers_count=3,
            ni51=areas or [],
            supersedes=supersedes,
            organisation_name=org,
        ),
        at=when,
    )


def reopen(
    h: History, org: str, when: datetime, qids: list[str], was: datetime | None
) -> EventEnvelope:
    """Reopen the return (unlocking each questionnaire)."""
    e = h.add(
        ReturnReopened(organisation_id=org, cycle=CYCLE, reason="fix NI 51", was_signed_off_at=was),
        at=when,
    )
    for qid in qids:
        h.add(QuestionnaireUnlocked(**_base(org, qid), reason="reopened"), at=when)
    return e


def extend(h: History, org: str, until: datetime, when: datetime) -> EventEnvelope:
    """Grant an extension."""
    return h.add(
        ExtensionGranted(organisation_id=org, cycle=CYCLE, until=until, reason="flood"), at=when
    )


def progress_history(h: History) -> dict[str, EventEnvelope]:
    """A whole cycle for three organisations; the notable events by name.

    - 00AA (LA): camhs (area 00AA) submitted, delegated then returned then accepted;
      trust questionnaire delegated, sent back, returned, accepted, submitted, withdrawn,
      resubmitted after the summary reports; signed off on time, reopened, signed off late.
    - 5A4 (PCT): self-assessment never touched; two service questionnaires (one cancelled,
      one delegated and re-delegated, the second still active at the close); extension.
    - 00BB (LA): camhs saved only; never signed off.
    """
    organisations(h)
    notable = {"scheduled": schedule(h)}
    issue(h, "00AA", "qa-camhs", "camhs-partnership", "00AA")
    issue(h, "00AA", "qa-trust", "childrens-trust", "00AA")
    issue(h, "5A4", "qp-self", "commissioning-self-assessment", "5A4")
    issue(h, "5A4", "qp-svc1", "service", "svc-1", group="g1")
    issue(h, "5A4", "qp-svc2", "service", "svc-2", group="g1")
    issue(h, "00BB", "qb-camhs", "camhs-partnership", "00BB")
    # 00AA camhs: lead saves, delegates, delegate saves and returns, lead accepts and submits.
    save(h, "00AA", "qa-camhs", at(11, 3), n=2)
    delegate(h, "00AA", "qa-camhs", "d1", at(11, 4))
    save(h, "00AA", "qa-camhs", at(11, 5), n=2, delegation="d1")
    delegation_step(h, "00AA", "qa-camhs", "d1", "returned", at(11, 6))
    delegation_step(h, "00AA", "qa-camhs", "d1", "accepted", at(11, 7))
    submit(h, "00AA", "qa-camhs", "camhs-partnership", at(11, 8))
    # 00AA trust: delegated straight away, sent back once.
    delegate(h, "00AA", "qa-trust", "d2", at(11, 9))
    save(h, "00AA", "qa-trust", at(11, 10), delegation="d2")
    delegation_step(h, "00AA", "qa-trust", "d2", "returned", at(11, 11))
    delegation_step(h, "00AA", "qa-trust", "d2", "sent-back", at(11, 12))
    save(h, "00AA", "qa-trust", at(11, 13), n=3, delegation="d2")
    delegation_step(h, "00AA", "qa-trust", "d2", "returned", at(11, 14))
    delegation_step(h, "00AA", "qa-trust", "d2", "accepted", at(11, 15))
    submit(h, "00AA", "qa-trust", "childrens-trust", at(11, 16))
    withdraw(h, "00AA", "qa-trust", at(11, 17))
    save(h, "00AA", "qa-trust", at(1, 20), n=2)  # after the summary reports
    submit(h, "00AA", "qa-trust", "childrens-trust", at(1, 21))
    notable["before_sign_off"] = save(h, "00BB", "qb-camhs", at(2, 1))
    first = at(2, 10)
    notable["signed_off"] = sign_off(
        h, "00AA", first, ["qa-camhs", "qa-trust"], [ni51("00AA", (4, 3, 2, 1))]
    )
    # 5A4: one service cancelled, one delegated then re-delegated; an extension.
    cancel(h, "5A4", "qp-svc1", at(12, 1))
    delegate(h, "5A4", "qp-svc2", "d3", at(12, 2))
    delegate(h, "5A4", "qp-svc2", "d4", at(12, 3), supersedes="d3")
    notable["extended"] = extend(h, "5A4", at(3, 14), at(2, 20))
    # 00AA reopened after the close and signed off again, late.
    notable["reopened"] = reopen(h, "00AA", at(3, 2), ["qa-camhs", "qa-trust"], was=first)
    notable["resigned"] = sign_off(
        h,
        "00AA",
        at(3, 5),
        ["qa-camhs", "qa-trust"],
        [ni51("00AA", (4, 4, 2, 1))],
        supersedes=first,
    )
    return notable


def service_fields(org: str, name: str, **extra: Any) -> dict[str, Any]:
    """A service record's fields."""
    fields: dict[str, Any] = {
        "organisation_id": org,
        "cycle": CYCLE,
        "name": name,
        "description": f"{name} for children and families",
        "service_type": "targeted",
        "client_group": {"age_min": 0, "age_max": 18, "needs": ["disabled children"]},
        "camhs": False,
        "group_id": "g1",
        "provider_id": org,
        "commissioner_ids": ["5A4"],
        "contact": {"name": "Pat Lead", "email": "pat@example.org", "phone": "020 7946 0000"},
    }
    fields.update(extra)
    return fields


def directory_history(h: History) -> dict[str, Any]:
    """Last cycle's services carried into this one, and new ones: checked, revised, withdrawn."""
    organisations(h)
    ids = {k: str(uuid.uuid4()) for k in ("old1", "old2", "old3", "new1", "c1", "c2", "c3")}
    for key, name in (
        ("old1", "Speech therapy"),
        ("old2", "Health visiting"),
        ("old3", "Youth counselling"),
    ):
        h.add(
            ServiceRegistered(service_id=ids[key], **service_fields("5A4", name, cycle=LAST_CYCLE)),
            at=at(11, 5, year=2008),
        )
    for old, new in (("old1", "c1"), ("old2", "c2"), ("old3", "c3")):
        h.add(
            ServiceCarriedForward(
                service_id=ids[new],
                previous_service_id=ids[old],
                previous_cycle=LAST_CYCLE,
                **service_fields("5A4", _names(old)),
            ),
            at=at(11, 1, 2),
        )
    h.add(
        ServiceRegistered(
            service_id=ids["new1"],
            **service_fields(
                "00AA",
                "Tier 3 CAMHS clinic",
                camhs=True,
                camhs_tier=3,
                service_type="specialist",
                commissioner_ids=["5A4", "00AA"],
            ),
        ),
        at=at(11, 3),
    )
    h.add(ServiceConfirmed(organisation_id="5A4", service_id=ids["c1"], cycle=CYCLE), at=at(11, 10))
    h.add(
        ServiceRevised(
            organisation_id="5A4",
            service_id=ids["c2"],
            cycle=CYCLE,
            changes=[
                {"field": "name", "old": "Health visiting", "new": "Health visiting team"},
                {"field": "client_group.age_max", "old": 18, "new": 5},
                {"field": "contact.phone", "old": "020 7946 0000", "new": None},
                {"field": "status", "old": "to-be-checked", "new": "active"},
            ],
        ),
        at=at(11, 11),
    )
    h.add(
        ServiceRevised(
            organisation_id="5A4",
            service_id=ids["c2"],
            cycle=CYCLE,
            changes=[
                {
                    "field": "client_group.needs",
                    "old": ["disabled children"],
                    "new": ["disabled children", "young carers"],
                },
                {"field": "client_group.age_max", "old": 5, "new": 7},
            ],
        ),
        at=at(11, 12),
    )
    h.add(
        ServiceWithdrawn(
            organisation_id="00AA",
            service_id=ids["new1"],
            cycle=CYCLE,
            reason="merged into the trust's service",
        ),
        at=at(12, 1),
    )
    return ids


def _names(old: str) -> str:
    return {"old1": "Speech therapy", "old2": "Health visiting", "old3": "Youth counselling"}[old]


async def snapshot(conn: Any, schema: str, tables: tuple[str, ...]) -> dict[str, list[dict]]:
    """Every row of `tables` in `schema`, in a stable order, for comparing two builds."""
    out = {}
    for table in tables:
        rows = await conn.fetch(f"SELECT * FROM {schema}.{table}")
        out[table] = sorted((dict(r) for r in rows), key=repr)
    return out
