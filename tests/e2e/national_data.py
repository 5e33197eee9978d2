"""A national-sized data set made through the services' real APIs and bulk paths, for the
browser test of the national team's pages (`test_national_pages.py`): made once per test run,
never a dump.

1. **Organisations**: the 5,000 of `national_roster` in one `POST /organisations/import` (the
   bulk path, one transaction), and one service for each organisation that owes no
   questionnaire of its own (trusts, provider arms, third-sector and private providers) in one
   `POST /directory/services/import`, so every organisation owes a return.
2. **Leads**: `PUT /organisations/{code}/lead` for the organisations whose returns are signed
   off or extended below (the emails about sign-off, extension and reopening need someone to
   go to; one request each, so not for all 5,000).
3. **The cycle**: scheduled, with data entry open since yesterday, once the questionnaire
   service has heard of every organisation and service (its `/metrics` counts what its
   consumer handled); its clock then issues every organisation its questionnaires in one
   bulk issue.
4. **Returns**: leads of some PCTs save an answer (in progress), answer everything and submit
   (submitted), and sign off (signed off); the national team reopens some signed-off returns
   (reopened) and extends some (extended). Then the timetable moves data entry's close to a
   minute ago: every other return is overdue.

`build` waits until the reporting service's participation projection shows all of it, and
returns what was made with the seconds each step took."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from national_roster import RosterOrganisation, national_roster, roster_csv

CYCLE = "2011-12"
ORGANISATIONS = 5000
SEED = 20111201
#: Requests in flight at once while acting on returns (the services run one worker each).
CONCURRENCY = 6


@dataclass
class NationalData:
    roster: list[RosterOrganisation]
    #: Organisation codes by what was done to their return.
    in_progress: list[str]
    submitted: list[str]
    signed_off: list[str]
    reopened: list[str]
    extended: list[str]
    #: The reporting service's participation answer once everything was projected.
    participation: dict[str, Any]
    #: Seconds each step took, and in all.
    seconds: dict[str, float] = field(default_factory=dict)


class Steps:
    """Times each step of the build."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(now - self.last, 1)
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.monotonic() - self.started, 1)}


def service_line(org: RosterOrganisation) -> bytes:
    """One service of `org` in the cycle, as a line of `POST /directory/services/import`."""
    return json.dumps(
        {
            "cycle": CYCLE,
            "name": f"Children's services of {org.name}",
            "description": "Community health and support for children and families.",
            "service_type": "targeted",
            "client_group": {"age_min": 0, "age_max": 18, "needs": ["disabled children"]},
            "camhs": False,
            "provider_id": org.code,
            "commissioner_ids": [],
            "contact": {"name": "Service Manager", "email": f"{org.code.lower()}@example.org.uk"},
        }
    ).encode()


def timetable(closes_in: timedelta) -> dict[str, str]:
    now = datetime.now(UTC)
    days = {"sandbox_opens": -30, "data_entry_opens": -1, "publication": 140}
    dates = {k: now + timedelta(days=d) for k, d in days.items()}
    dates["data_entry_closes"] = now + closes_in
    dates["summary_reports"] = min(now + timedelta(days=60), dates["data_entry_closes"])
    if closes_in < timedelta(0):
        dates["summary_reports"] = dates["data_entry_closes"] - timedelta(minutes=1)
    return {k: v.isoformat() for k, v in dates.items()}


async def wait_for(
    client: httpx.AsyncClient, url: str, check: Any, what: str, timeout: float = 300
) -> dict[str, Any]:
    """The first 200 answer from `url` whose JSON passes `check`."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(url)
        if r.status_code == 200 and check(body := r.json()):
            return body
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}: {r.text[:300]}"
        await asyncio.sleep(0.5)


async def wait_for_text(
    client: httpx.AsyncClient, url: str, check: Any, what: str, timeout: float = 300
) -> str:
    """The first 200 answer from `url` whose text passes `check`."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(url)
        if r.status_code == 200 and check(r.text):
            return r.text
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}: {r.text[-300:]}"
        await asyncio.sleep(0.5)


def consumed(metrics: str, consumer: str) -> int:
    """Messages `consumer` has handled, from a service's `/metrics` (Prometheus text)."""
    match = re.search(
        rf'^csm_consumer_messages_total{{consumer="{re.escape(consumer)}",outcome="handled"}} '
        r"([0-9.e+]+)$",
        metrics,
        re.M,
    )
    return int(float(match.group(1))) if match else 0


async def build(urls: dict[str, str], auth_keys: Any) -> NationalData:
    """The national data set on the running services at `urls` (registration, questionnaire,
    reporting), as a national admin and the organisations' leads."""
    steps = Steps()
    roster = national_roster(random.Random(SEED), total=ORGANISATIONS)
    admin = auth_keys.headers("national-admin")
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=admin, timeout=120, limits=limits) as client:
        registration, questionnaire = urls["registration"], urls["questionnaire"]

        r = await client.post(
            f"{registration}/organisations/import",
            content=roster_csv(roster),
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200 and len(r.json()["registered"]) == len(roster), r.text[:500]
        lines = [service_line(o) for o in roster if not o.owes_its_own_questionnaires]
        r = await client.post(
            f"{registration}/directory/services/import",
            content=b"\n".join(lines),
            headers={"content-type": "application/x-ndjson"},
        )
        assert r.status_code == 201 and r.json()["imported"] == len(lines), r.text[:500]
        steps.done("import")

        # What each PCT's lead and the national team do: consecutive slices of the PCTs.
        pcts = [o.code for o in roster if o.kind in ("pct", "pct-commissioning")]
        signed_off, submitted, in_progress = pcts[:30], pcts[30:50], pcts[50:75]
        reopened = signed_off[:4]
        extended = pcts[75:85] + in_progress[:2]

        async def nominate(code: str) -> None:
            r = await client.put(
                f"{registration}/organisations/{code}/lead",
                json={"email": f"lead.{code.lower()}@example.org.uk", "name": f"Lead of {code}"},
            )
            assert r.status_code in (200, 201), r.text

        await gather(nominate(c) for c in dict.fromkeys(signed_off + extended))
        steps.done("leads")

        # The cycle opens once the questionnaire service knows everyone (as it would: the
        # national team registers organisations ahead of the cycle), so its clock issues every
        # questionnaire in one bulk issue rather than one organisation at a time.
        registered = len(roster) + len(lines)
        await wait_for_text(
            client,
            f"{questionnaire}/metrics",
            lambda text: consumed(text, "questionnaire.registration") >= registered,
            f"the questionnaire service to hear of {registered} organisations and services",
        )
        steps.done("registry")

        r = await client.post(
            f"{questionnaire}/cycles",
            json={"cycle": CYCLE, "timetable": timetable(timedelta(days=100))},
        )
        assert r.status_code == 201, r.text
        await wait_for(
            client,
            f"{urls['reporting']}/cycles/{CYCLE}/participation?per_page=1",
            lambda body: body["total"] == len(roster),
            "every organisation to be issued its questionnaires",
        )
        steps.done("issue")

        answers = await self_assessment_answers(client, questionnaire, auth_keys, pcts[0])

        async def act(code: str) -> None:
            lead = auth_keys.headers("mapping-lead", org=code)
            r = await client.get(
                f"{questionnaire}/questionnaires", params={"cycle": CYCLE}, headers=lead
            )
            assert r.status_code == 200, r.text
            [owed] = r.json()
            some = answers if code not in in_progress else dict(list(answers.items())[:1])
            r = await client.patch(
                f"{questionnaire}/questionnaires/{owed['id']}/answers",
                headers=lead,
                json={"version": owed["version"], "answers": some},
            )
            assert r.status_code == 200, r.text
            if code in in_progress:
                return
            r = await client.post(
                f"{questionnaire}/questionnaires/{owed['id']}/submit", headers=lead
            )
            assert r.status_code == 200, r.text
            if code in submitted:
                return
            r = await client.post(
                f"{questionnaire}/cycles/{CYCLE}/returns/{code}/sign-off",
                headers=lead,
                json={"confirm": True},
            )
            assert r.status_code == 200, r.text
            if code in reopened:
                r = await client.post(
                    f"{questionnaire}/cycles/{CYCLE}/returns/{code}/reopen",
                    json={"reason": "Figures queried by the regional office"},
                )
                assert r.status_code == 200, r.text

        async def extend(code: str) -> None:
            r = await client.post(
                f"{questionnaire}/cycles/{CYCLE}/returns/{code}/extension",
                json={
                    "until": (datetime.now(UTC) + timedelta(days=120)).isoformat(),
                    "reason": "Flooded offices",
                },
            )
            assert r.status_code in (200, 201), r.text

        await gather(act(c) for c in signed_off + submitted + in_progress)
        await gather(extend(c) for c in extended)
        steps.done("returns")

        # Data entry closed a minute ago: every return neither signed off nor extended is late.
        r = await client.get(f"{questionnaire}/cycles/{CYCLE}")
        r = await client.put(
            f"{questionnaire}/cycles/{CYCLE}/timetable",
            json={
                "version": r.json()["version"],
                "timetable": timetable(-timedelta(minutes=1)),
                "reason": "The close has passed",
            },
        )
        assert r.status_code == 200, r.text
        still_to_sign = len(signed_off) - len(reopened)
        expected = {
            "signed-off": still_to_sign,
            "extended": len(extended),
            "reopened": len(reopened),
            "overdue": len(roster) - still_to_sign - len(extended),
        }
        participation = await wait_for(
            client,
            f"{urls['reporting']}/cycles/{CYCLE}/participation?per_page=1",
            lambda body: all(body["counts"]["status"][k] == n for k, n in expected.items()),
            f"participation to show {expected}",
        )
        steps.done("close")
    return NationalData(
        roster,
        in_progress,
        submitted,
        signed_off,
        reopened,
        extended,
        participation,
        steps.total(),
    )


async def gather(work: Any) -> None:
    """Run the coroutines `work`, `CONCURRENCY` at a time."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(coroutine: Any) -> None:
        async with limit:
            await coroutine

    await asyncio.gather(*(one(c) for c in work))


async def self_assessment_answers(
    client: httpx.AsyncClient, questionnaire: str, auth_keys: Any, code: str
) -> dict[str, Any]:
    """A complete set of answers to the commissioning self-assessment (a score and its
    evidence for every question), read from one PCT's questionnaire."""
    lead = auth_keys.headers("mapping-lead", org=code)
    r = await client.get(f"{questionnaire}/questionnaires", params={"cycle": CYCLE}, headers=lead)
    [owed] = r.json()
    view = (await client.get(f"{questionnaire}/questionnaires/{owed['id']}", headers=lead)).json()
    return {
        q["id"]: {"score": 2, "evidence": "Board minutes, October"}
        for section in view["sections"]
        for q in section["questions"]
    }
