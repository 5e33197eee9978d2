"""Opening a cycle, end to end, every service its own process on the real broker:

the national team schedules 2009-10 in the questionnaire service -> its clock opens data entry
-> `CycleOpened` -> registration carries last cycle's services forward -> `ServiceCarriedForward`
and `OrganisationRegistered` -> the questionnaire service issues what each organisation owes:
the PCT its commissioning self-assessment and a questionnaire for its carried-forward service,
the LA its CAMHS partnership and Children's Trust questionnaires.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from csm_kernel.links import ensure_link_key
from service_processes import ServiceProcess, running_services, service_process


@pytest.fixture(scope="module")
def services(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    tmp = tmp_path_factory.mktemp("e2e-cycle")
    key = ensure_link_key(Path(tmp) / "links.key")

    def service(name: str, **extra: str) -> ServiceProcess:
        return service_process(name, infra, auth_keys, tmp, f"cyc_{name}", **extra)

    running = {
        "registration": service("registration"),
        "questionnaire": service(
            "questionnaire", CSM_LINK_KEY_FILE=str(key), CSM_CYCLE_TICK_SECONDS="0.5"
        ),
    }
    with running_services(running):
        yield running


def code(prefix: str) -> str:
    return prefix + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))


async def test_opening_a_cycle_issues_what_every_organisation_owes(services, auth_keys) -> None:
    registration, questionnaire = services["registration"], services["questionnaire"]
    admin = auth_keys.headers("national-admin")
    pct, la = code("P"), code("L")
    async with httpx.AsyncClient(timeout=30) as client:
        for org, kind in ((pct, "pct"), (la, "local-authority")):
            r = await client.post(
                f"{registration.url}/organisations",
                headers=admin,
                json={"code": org, "name": f"{org} {kind}", "kind": kind, "region": "london"},
            )
            assert r.status_code == 201, r.text
        # Last cycle's service, mapped by the PCT.
        r = await client.post(
            f"{registration.url}/directory/services",
            headers=admin,
            json={
                "cycle": "2008-09",
                "name": "Health visiting",
                "description": "Under-fives.",
                "service_type": "universal",
                "client_group": {"age_min": 0, "age_max": 5},
                "provider_id": pct,
                "commissioner_ids": [],
                "contact": {"name": "Pat Jones", "email": "pat@example.nhs.uk"},
            },
        )
        assert r.status_code == 201, r.text
        now = datetime.now(UTC)
        timetable = {
            "sandbox_opens": (now - timedelta(days=30)).isoformat(),
            "data_entry_opens": (now - timedelta(seconds=1)).isoformat(),
            "summary_reports": (now + timedelta(days=60)).isoformat(),
            "data_entry_closes": (now + timedelta(days=100)).isoformat(),
            "publication": (now + timedelta(days=140)).isoformat(),
        }
        r = await client.post(
            f"{questionnaire.url}/cycles",
            headers=admin,
            json={
                "cycle": "2009-10",
                "previous_cycle": "2008-09",
                "timetable": timetable,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["phase"] == "data-entry"

        async def owed(org: str) -> list[str]:
            r = await client.get(
                f"{questionnaire.url}/questionnaires",
                params={"cycle": "2009-10"},
                headers=auth_keys.headers("mapping-lead", org=org),
            )
            assert r.status_code == 200, r.text
            return sorted(q["kind"] for q in r.json())

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if await owed(pct) == ["self-assessment", "service"] and len(await owed(la)) == 2:
                break
            await asyncio.sleep(0.5)
        assert await owed(pct) == ["self-assessment", "service"], questionnaire.log.read_text()[
            -3000:
        ]
        assert await owed(la) == ["camhs-partnership", "childrens-trust"]
        # The service questionnaire is about the record registration carried into 2009-10,
        # which waits for the lead to check it.
        r = await client.get(
            f"{registration.url}/directory/services",
            headers=admin,
            params={"cycle": "2009-10", "q": "Health visiting"},
        )
        assert r.status_code == 200, r.text
        carried = [s for s in r.json()["items"] if s["name"] == "Health visiting"]
        r = await client.get(
            f"{questionnaire.url}/questionnaires",
            params={"cycle": "2009-10"},
            headers=auth_keys.headers("mapping-lead", org=pct),
        )
        [service_questionnaire] = [q for q in r.json() if q["kind"] == "service"]
        assert service_questionnaire["subject"]["id"] in {str(s["service_id"]) for s in carried}
        assert {s["status"] for s in carried} == {"to-be-checked"}
