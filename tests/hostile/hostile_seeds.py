"""A little real data in each service, and the ids it has, for the attack to reach real rows:
organisations, a lead, a service group, a directory service, a cycle in data entry with its
questionnaires, answers and a delegation, a journal of two cycles for the reports, sent emails,
a bulletin and a reminder schedule."""

from __future__ import annotations

from typing import Any

from csm_contracts.events.directory import ServiceRegistered
from hostile_api import Identity
from hostile_stack import (
    CYCLE,
    LEAD_ORG,
    OPEN,
    ORGANISATIONS,
    TIMETABLE,
    Target,
    deliver,
    event,
    expect,
    lead_nominated,
    new_email,
    organisations_registered,
    role_identities,
)
from reporting_history import History

CODES = [code for code, _, _ in ORGANISATIONS]
COMMON = {"cycle": [CYCLE], "organisation_id": CODES, "region": ["london"]}


def directory_service(provider: str = LEAD_ORG, **extra: Any) -> dict[str, Any]:
    return {
        "cycle": CYCLE,
        "name": "Speech and language therapy",
        "description": "Assessment and therapy for children with speech and language needs.",
        "service_type": "targeted",
        "client_group": {"age_min": 2, "age_max": 11, "needs": ["speech and language"]},
        "provider_id": provider,
        "commissioner_ids": ["00AA"],
        "contact": {"name": "Pat Jones", "email": "pat@example.nhs.uk", "phone": "0161 555 0101"},
        **extra,
    }


async def registration(t: Target, auth_keys: Any) -> None:
    admin = dict(auth_keys.headers("national-admin"))
    c = t.client
    for code, kind, areas in ORGANISATIONS:
        await expect(
            await c.post(
                "/organisations",
                headers=admin,
                json={
                    "code": code,
                    "name": f"Organisation {code}",
                    "kind": kind,
                    "region": "london",
                    "partnership_areas": areas,
                },
            ),
            201,
        )
    lead = {"email": new_email(), "name": "Ann Lead"}
    await expect(await c.put(f"/organisations/{LEAD_ORG}/lead", headers=admin, json=lead), 200, 201)
    group = await expect(
        await c.post(
            f"/organisations/{LEAD_ORG}/groups",
            headers=admin,
            json={
                "name": "North locality",
                "kind": "locality",
                "owner": {"email": new_email(), "name": "Olu Owner"},
            },
        ),
        201,
    )
    service = await expect(
        await c.post("/directory/services", headers=admin, json=directory_service()), 201
    )
    t.identities = role_identities(auth_keys, LEAD_ORG, group["group_id"])
    # Public, the same for anyone, and slow on purpose (a password hash per attempt): sent once,
    # with fewer drawn examples.
    public = ("POST /auth/sign-in", "POST /auth/set-up", "POST /auth/refresh")
    # A way back in: public too; asking for a link answers no sooner than 0.4 s on purpose.
    asks = ("POST /auth/password-reset-requests", "POST /auth/set-up-link-requests")
    public += (*asks, "POST /auth/links/check", "POST /auth/reset-password")
    t.extra["anonymous_only"] = public
    t.extra["examples"] = {"POST /auth/sign-in": 3, **dict.fromkeys(asks, 3)}
    t.known = {
        **COMMON,
        "code": CODES,
        "area": ["00AA"],
        "service_id": [service["service_id"]],
        "group_id": [group["group_id"]],
        "from": ["2008-09"],
        "kind": ["pct"],
    }


async def questionnaire(t: Target, auth_keys: Any) -> None:
    services = t.app.state.services
    pool = t.app.state.runtime.require_pool()
    h = History()
    await deliver(pool, services.follower.organisation_registered, organisations_registered(h))
    group = "g-north"
    mapped = [
        event(
            h,
            ServiceRegistered(
                organisation_id=org,
                service_id=sid,
                cycle=CYCLE,
                name=f"Service of {org}",
                description="",
                service_type="targeted",
                client_group={"age_min": 0, "age_max": 18},
                camhs=False,
                group_id=group if org == LEAD_ORG else None,
                provider_id=org,
                contact={"name": "A Manager", "email": "manager@example.org"},
            ),
        )
        for org, sid in (
            (LEAD_ORG, "6f1c9a52-0d35-4c1e-9d4e-0a6b1d1e2f01"),
            ("RT1", "6f1c9a52-0d35-4c1e-9d4e-0a6b1d1e2f02"),
        )
    ]
    await deliver(pool, services.follower.service_mapped, mapped)
    t.identities = role_identities(auth_keys, LEAD_ORG, group)
    admin, lead = t.identity("national-admin").headers, t.identity("mapping-lead").headers
    c = t.client
    await expect(
        await c.post("/cycles", headers=admin, json={"cycle": CYCLE, "timetable": TIMETABLE}), 201
    )
    t.extra["clock"].set(OPEN)
    await services.cycles.tick()
    owed = await expect(await c.get("/questionnaires", params={"cycle": CYCLE}, headers=lead))
    assert owed, "seeding: no questionnaires were issued"
    ids = [q["id"] for q in owed]
    service_q = next(q for q in owed if q["kind"] == "service")
    view = await expect(await c.get(f"/questionnaires/{ids[0]}", headers=lead))
    await expect(
        await c.patch(
            f"/questionnaires/{ids[0]}/answers",
            headers=lead,
            json={"version": view["version"], "answers": {}},
        )
    )
    delegated = await expect(
        await c.post(
            f"/questionnaires/{service_q['id']}/delegations",
            headers=lead,
            json={"email": "manager@example.org", "message": "Over to you"},
        ),
        201,
    )
    did = delegated["delegation"]["id"]
    token = services.links.delegation_token(service_q["id"], did)
    t.identities.append(Identity("delegate", {"X-Delegate-Token": token}))
    refs = [d["ref"] for d in await expect(await c.get("/definitions", headers=admin))]
    t.known = {**COMMON, "questionnaire_id": ids, "delegation_id": [did], "ref": refs}


async def reporting(t: Target, auth_keys: Any) -> None:
    from reporting.adapters import journal
    from reporting.adapters.projections import PROJECTIONS
    from reporting.adapters.reports import REPORTS
    from responses_history import ORGANISATIONS as REPORTED
    from responses_history import build

    services = t.app.state.services
    h = History()
    build(h)
    async with services.pool.acquire() as conn, conn.transaction():
        await journal.record(conn, h.take())
    await services.projector.catch_up_all()
    t.identities = role_identities(auth_keys, REPORTED[0][0], None)
    codes = [o[0] for o in REPORTED]
    areas = sorted({a for o in REPORTED for a in o[4]})
    names = [*(r.name for r in REPORTS), *(p.name for p in PROJECTIONS)]
    # One operation serves every report: it gets more examples than the others.
    t.extra["examples"] = {"GET /reports/{name}": 40}
    t.known = {
        "name": names,
        "cycle": ["2008-09", CYCLE],
        "organisation": codes,
        "area": areas,
        "region": ["london"],
        "format": ["json", "csv", "xlsx"],
        "type": ["pct"],
    }


async def notification(t: Target, auth_keys: Any) -> None:
    from notification.adapters.intents_pg import record
    from notification.bootstrap import consumer_tables
    from notification.domain.notification import Intent, Kind

    registration = consumer_tables().registration.handlers()

    pool = t.app.state.runtime.require_pool()
    h = History()
    for env, payload in [*organisations_registered(h), lead_nominated(h)]:
        await deliver(pool, registration[env.type], [(env, payload)])
    intent = Intent(
        kind=Kind.RETURN_REOPENED,
        organisation_id=LEAD_ORG,
        recipient="lead-5a4@example.org",
        recipient_name="Lead 5A4",
        cause="hostile-seed",
        caused_by_type="questionnaire.ReturnReopened",
        context={
            "name": "Lead 5A4",
            "organisation_name": "Organisation 5A4",
            "cycle": CYCLE,
            "reason": "figures to correct",
        },
    )
    async with pool.acquire() as conn, conn.transaction():
        await record(conn, [intent], t.extra["clock"].now())
    t.identities = role_identities(auth_keys, LEAD_ORG, None)
    admin = t.identity("national-admin").headers
    await expect(
        await t.client.post(
            "/bulletins", headers=admin, json={"subject": "News", "body": "The mapping opens."}
        ),
        201,
    )
    await expect(
        await t.client.put(
            f"/reminders/{CYCLE}/schedule", headers=admin, json={"days_before": [14, 7, 1]}
        )
    )
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM notifications ORDER BY id")]
    kinds = [v for k, v in vars(Kind).items() if k.isupper()]
    t.known = {
        **COMMON,
        "notification_id": ids,
        "kind": kinds,
        "recipient": ["lead-5a4@example.org"],
    }
