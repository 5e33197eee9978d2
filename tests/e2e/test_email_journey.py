"""The cycle's emails, end to end, every service its own process on the real broker and the
SMTP sink: a nominated lead sets a password from the emailed link and signs in; the lead
delegates the self-assessment and the delegate completes it from the emailed link; the lead
submits and signs off, and the confirmation arrives. Each email exactly once."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from csm_kernel.links import ensure_link_key
from service_processes import ServiceProcess, running_services, service_process

PORTAL = "https://csm.example"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def services(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    tmp = tmp_path_factory.mktemp("e2e-mail")
    key = ensure_link_key(Path(tmp) / "links.key")

    def service(name: str, **extra: str) -> ServiceProcess:
        return service_process(
            name,
            infra,
            auth_keys,
            tmp,
            f"mail_{name}",
            CSM_LINK_KEY_FILE=str(key),
            CSM_PORTAL_URL=PORTAL,
            **extra,
        )

    running = {
        "registration": service(
            "registration", CSM_AUTH_PRIVATE_KEY_FILE=str(auth_keys.private_file)
        ),
        "questionnaire": service("questionnaire", CSM_CYCLE_TICK_SECONDS="0.5"),
        "notification": service("notification"),
    }
    with running_services(running):
        yield running


async def mail_to(infra: Any, to: str, subject_part: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in infra.mailbox() if m["to"] == to and subject_part in m["subject"]]
        if found:
            await asyncio.sleep(1)  # a duplicate would arrive right behind it
            return [m for m in infra.mailbox() if m["to"] == to and subject_part in m["subject"]]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no '{subject_part}' email to {to}")


async def test_the_cycle_by_email(services, infra, auth_keys) -> None:
    registration = services["registration"]
    questionnaire = services["questionnaire"]
    admin = auth_keys.headers("national-admin")
    org = "M" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
    lead_email = f"lead-{secrets.token_hex(3)}@pct.nhs.uk"
    delegate_email = f"manager-{secrets.token_hex(3)}@pct.nhs.uk"
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{registration.url}/organisations",
            headers=admin,
            json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
        )
        assert r.status_code == 201, r.text
        r = await client.put(
            f"{registration.url}/organisations/{org}/lead",
            headers=admin,
            json={"email": lead_email, "name": "Ann Lead"},
        )
        assert r.status_code == 201, r.text

        # The set-up link, from the email, works once.
        [setup] = await mail_to(infra, lead_email, "Set up your")
        token = re.search(rf"{PORTAL}/account/set-up\?token=(\S+)", setup["body"]).group(1)
        r = await client.post(
            f"{registration.url}/auth/set-up", json={"token": token, "password": PASSWORD}
        )
        assert r.status_code == 204, r.text
        r = await client.post(
            f"{registration.url}/auth/set-up", json={"token": token, "password": PASSWORD}
        )
        assert r.status_code == 422
        r = await client.post(
            f"{registration.url}/auth/sign-in", json={"email": lead_email, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        lead = {"authorization": f"Bearer {r.json()['access_token']}"}

        now = datetime.now(UTC)
        r = await client.post(
            f"{questionnaire.url}/cycles",
            headers=admin,
            json={
                "cycle": "2009-10",
                "timetable": {
                    "sandbox_opens": (now - timedelta(days=30)).isoformat(),
                    "data_entry_opens": (now - timedelta(seconds=1)).isoformat(),
                    "summary_reports": (now + timedelta(days=60)).isoformat(),
                    "data_entry_closes": (now + timedelta(days=100)).isoformat(),
                    "publication": (now + timedelta(days=140)).isoformat(),
                },
            },
        )
        assert r.status_code == 201, r.text
        owed: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not owed and time.monotonic() < deadline:
            r = await client.get(
                f"{questionnaire.url}/questionnaires", params={"cycle": "2009-10"}, headers=lead
            )
            owed = r.json()
            await asyncio.sleep(0.3)
        [sa] = owed
        r = await client.post(
            f"{questionnaire.url}/questionnaires/{sa['id']}/delegations",
            headers=lead,
            json={"email": delegate_email, "message": "Please score section 1"},
        )
        assert r.status_code == 201, r.text

        # The delegate opens the questionnaire from the emailed link, answers and returns it.
        [invitation] = await mail_to(infra, delegate_email, "Please complete")
        link = re.search(rf"{PORTAL}/delegate/(\S+)", invitation["body"]).group(1)
        as_delegate = {"X-Delegate-Token": link}
        view = (
            await client.get(f"{questionnaire.url}/delegate/questionnaire", headers=as_delegate)
        ).json()
        assert view["id"] == sa["id"] and view["can_edit"]
        answers = {
            q["id"]: {"score": 2, "evidence": "Board minutes"}
            for s in view["sections"]
            for q in s["questions"]
        }
        r = await client.patch(
            f"{questionnaire.url}/delegate/questionnaires/{sa['id']}/answers",
            headers=as_delegate,
            json={"version": view["version"], "answers": answers},
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            f"{questionnaire.url}/delegate/questionnaires/{sa['id']}/return",
            headers=as_delegate,
            json={"comment": "All scored"},
        )
        assert r.status_code == 200, r.text
        [returned] = await mail_to(infra, lead_email, "Returned to you")
        assert "All scored" in returned["body"]

        r = await client.post(f"{questionnaire.url}/questionnaires/{sa['id']}/submit", headers=lead)
        assert r.status_code == 200, r.text
        r = await client.post(
            f"{questionnaire.url}/cycles/2009-10/returns/{org}/sign-off",
            headers=lead,
            json={"confirm": True},
        )
        assert r.status_code == 200, r.text
        [confirmation] = await mail_to(infra, lead_email, "Signed off")
        assert "questionnaires submitted: 1" in confirmation["body"]
        assert "answers: 44" in confirmation["body"]
        # The link the delegate had stops working once the lead has accepted it.
        r = await client.get(f"{questionnaire.url}/delegate/questionnaire", headers=as_delegate)
        assert r.status_code == 410
