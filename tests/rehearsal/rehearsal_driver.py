"""A realistic cycle through the public APIs: a cycle opened, organisations registered with
their leads and services, every questionnaire answered (the self-assessment of every third
organisation by a delegate), submitted and signed off; a bulletin and reminders sent.

What each service answered 2xx is recorded (`Accepted`): those effects must be in the stores
afterwards whatever the faults did. A request that failed in transit (a replica killed under
it) is retried on another replica; one whose outcome stays unknown is not expected."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, TokenSigner

CYCLE = "2009-10"
#: Seconds after the start when the reminder (one day before the close) falls due.
REMINDER_AFTER = 150


@dataclass(frozen=True)
class Scale:
    organisations: int
    services_per_organisation: int
    concurrency: int


SCALES = {
    "small": Scale(organisations=12, services_per_organisation=1, concurrency=4),
    "national": Scale(organisations=5_000, services_per_organisation=20, concurrency=32),
}


@dataclass
class Accepted:
    """What the services answered 2xx to, and the latencies people saw."""

    organisations: list[str] = field(default_factory=list)
    leads: dict[str, str] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    delegations: dict[str, str] = field(default_factory=dict)  # questionnaire -> email
    saves: list[tuple[str, int]] = field(default_factory=list)  # questionnaire, version
    submitted: list[str] = field(default_factory=list)
    signed_off: list[str] = field(default_factory=list)
    bulletins: list[str] = field(default_factory=list)
    not_submittable: dict[str, str] = field(default_factory=dict)
    retried: int = 0
    unknown: int = 0
    #: Seconds from a submit's 2xx until reporting showed it (sampled).
    submit_to_visible: list[float] = field(default_factory=list)
    #: Answers received, by service and kind of request (save, load, other): what the
    #: capacity model is checked against.
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Organisations whose cycle the driver has finished.
    finished: int = 0


def request_kind(method: str, path: str) -> str:
    """A save, a load of a questionnaire, or something else (the model's operations)."""
    if method == "PATCH" and path.endswith("/answers"):
        return "save"
    if method == "GET" and (
        path == "/delegate/questionnaire" or re.fullmatch(r"/questionnaires/[^/]+", path)
    ):
        return "load"
    return "other"


class Api:
    """Requests to the services through their balancers, retried across replicas when a
    connection breaks or a replica answers 502/503 (killed, or its database restarting)."""

    def __init__(self, urls: dict[str, str], private_key: bytes, accepted: Accepted) -> None:
        self.urls = urls
        self.signer = TokenSigner(private_key, ttl_seconds=6 * 3600)
        self.accepted = accepted
        self.client = httpx.AsyncClient(timeout=30)

    def headers(self, role: str, org: str | None = None) -> dict[str, str]:
        token, _ = self.signer.issue(
            Principal(
                user_id=f"rehearsal-{role}-{org or 'all'}",
                session_id=uuid.uuid4().hex,
                roles=frozenset({Role(role)}),
                organisation_id=org,
            )
        )
        return {"authorization": f"Bearer {token}"}

    async def call(
        self, method: str, service: str, path: str, attempts: int = 8, **kwargs: Any
    ) -> httpx.Response | None:
        """The answer, or None when no replica answered in time (outcome unknown)."""
        for attempt in range(attempts):
            try:
                response = await self.client.request(
                    method, f"{self.urls[service]}{path}", **kwargs
                )
            except httpx.TransportError:
                response = None
            if response is not None:
                self.accepted.requests[(service, request_kind(method, path))] += 1
            if response is not None and response.status_code not in (502, 503, 504):
                return response
            self.accepted.retried += 1
            await asyncio.sleep(min(0.25 * 2**attempt, 4))
        self.accepted.unknown += 1
        return None

    async def close(self) -> None:
        await self.client.aclose()


async def open_cycle(api: Api) -> None:
    now = datetime.now(UTC)
    close = now + timedelta(days=1, seconds=REMINDER_AFTER)
    timetable = {
        "sandbox_opens": now - timedelta(days=30),
        "data_entry_opens": now - timedelta(seconds=1),
        "summary_reports": now + timedelta(hours=20),
        "data_entry_closes": close,
        "publication": close + timedelta(days=30),
    }
    admin = api.headers("national-admin")
    r = await api.call(
        "POST",
        "questionnaire",
        "/cycles",
        headers=admin,
        json={"cycle": CYCLE, "timetable": {k: v.isoformat() for k, v in timetable.items()}},
    )
    assert r is not None and r.status_code == 201, r and r.text
    r = await api.call(
        "PUT",
        "notification",
        f"/reminders/{CYCLE}/schedule",
        headers=admin,
        json={"days_before": [1]},
    )
    assert r is not None and r.status_code in (200, 201), r and r.text


def answer_for(question: dict[str, Any]) -> Any:
    """A valid answer that opens no follow-up questions and keeps every total consistent."""
    kind = question["type"]
    options = [o["value"] for o in question.get("options") or []]
    if kind == "yes_no":
        return False
    if kind == "single_choice":
        return options[0]
    if kind == "multiple_choice":
        return options[:1]
    if kind in ("integer",):
        return max(int(question.get("min") or 0), 0)
    if kind in ("decimal", "percentage", "money"):
        return "0"
    if kind == "date":
        return question.get("min") or "2009-06-01"
    if kind == "scored_scale":
        levels = sorted(int(level) for level in (question.get("levels") or {"2": ""}))
        return {"score": levels[len(levels) // 2], "evidence": "Board minutes"}
    return "Recorded in the rehearsal"


def unanswered(view: dict[str, Any]) -> dict[str, Any]:
    return {
        q["id"]: answer_for(q)
        for section in view["sections"]
        if section.get("visible", True)
        for q in section["questions"]
        if q.get("visible", True) and q.get("answer") is None
    }


class Inbox:
    """The invitations in the SMTP sink's mailbox, read once each and shared by every
    organisation's driver (re-reading the whole mailbox per waiting delegate is quadratic at
    national scale)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.read: set[str] = set()
        self.links: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._read_at = 0.0

    async def invitation(self, to: str, timeout: float = 120) -> str | None:
        """The token of the newest invitation to `to`, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if to in self.links:
                return self.links[to]
            await self._refresh()
            await asyncio.sleep(1)
        return self.links.get(to)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at >= 1:
                await asyncio.to_thread(self._read_new)
                self._read_at = time.monotonic()

    def _read_new(self) -> None:
        for path in sorted(self.directory.glob("*.eml")):
            if path.name in self.read:
                continue
            self.read.add(path.name)
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if "Please complete" not in str(msg["Subject"]):
                continue
            body = msg.get_body(preferencelist=("plain", "html"))
            found = re.search(r"/delegate/(\S+)", body.get_content() if body else "")
            if found:
                self.links[str(msg["To"])] = found.group(1)


class Organisation:
    """One organisation's whole cycle, as its lead (and maybe a delegate) would do it."""

    def __init__(self, api: Api, code: str, index: int, scale: Scale, inbox: Inbox) -> None:
        self.api, self.code, self.index, self.scale, self.inbox = api, code, index, scale, inbox
        self.admin = api.headers("national-admin")
        self.lead = api.headers("mapping-lead", org=code)

    async def run(self) -> None:
        if not await self.register():
            return
        questionnaires = await self.owed()
        for q in questionnaires:
            delegated = self.index % 3 == 0 and q["definition"].startswith("commissioning")
            if delegated and await self.delegate(q["id"]):
                await self.answer_as_delegate(q["id"])
            else:
                await self.answer(q["id"], self.lead, "")
            await self.submit(q["id"])
        if all(q["id"] in self.api.accepted.submitted for q in questionnaires):
            await self.sign_off()

    async def register(self) -> bool:
        api, accepted = self.api, self.api.accepted
        r = await api.call(
            "POST",
            "registration",
            "/organisations",
            headers=self.admin,
            json={
                "code": self.code,
                "name": f"{self.code} Primary Care Trust",
                "kind": "pct",
                "region": random.choice(["london", "north-west", "south-east"]),
            },
        )
        if r is None or r.status_code != 201:
            return False
        accepted.organisations.append(self.code)
        email = f"lead-{self.code.lower()}@pct.nhs.uk"
        r = await api.call(
            "PUT",
            "registration",
            f"/organisations/{self.code}/lead",
            headers=self.admin,
            json={"email": email, "name": f"Lead of {self.code}"},
        )
        if r is not None and r.status_code == 201:
            accepted.leads[self.code] = email
        for n in range(self.scale.services_per_organisation):
            r = await api.call(
                "POST",
                "registration",
                "/directory/services",
                headers=self.lead,
                json={
                    "cycle": CYCLE,
                    "name": f"Service {n + 1} of {self.code}",
                    "description": "Assessment and therapy.",
                    "service_type": "targeted",
                    "client_group": {"age_min": 2, "age_max": 11, "needs": ["speech"]},
                    "provider_id": self.code,
                    "contact": {"name": "Pat Jones", "email": "pat@example.nhs.uk"},
                },
            )
            if r is not None and r.status_code == 201:
                accepted.services.append(r.json()["service_id"])
        return True

    async def owed(self) -> list[dict[str, Any]]:
        """The questionnaires issued to the organisation, once their number stops growing."""
        seen: list[dict[str, Any]] = []
        stable = 0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and stable < 3:
            r = await self.api.call(
                "GET",
                "questionnaire",
                "/questionnaires",
                params={"cycle": CYCLE},
                headers=self.lead,
            )
            now = r.json() if r is not None and r.status_code == 200 else seen
            expected = 1 + self.scale.services_per_organisation
            stable = stable + 1 if len(now) == len(seen) and len(now) >= expected else 0
            seen = now
            await asyncio.sleep(0.5)
        return seen

    async def answer(self, qid: str, headers: dict[str, str], prefix: str) -> None:
        for _ in range(4):
            # A delegate reads their one questionnaire at its own path.
            path = "/delegate/questionnaire" if prefix else f"/questionnaires/{qid}"
            r = await self.api.call("GET", "questionnaire", path, headers=headers)
            if r is None or r.status_code != 200:
                return
            view = r.json()
            answers = unanswered(view)
            if not answers:
                return
            r = await self.api.call(
                "PATCH",
                "questionnaire",
                f"{prefix}/questionnaires/{qid}/answers",
                headers=headers,
                json={"version": view["version"], "answers": answers},
            )
            if r is not None and r.status_code == 200:
                self.api.accepted.saves.append((qid, r.json()["version"]))

    async def delegate(self, qid: str) -> bool:
        email = f"manager-{self.code.lower()}@pct.nhs.uk"
        r = await self.api.call(
            "POST",
            "questionnaire",
            f"/questionnaires/{qid}/delegations",
            headers=self.lead,
            json={"email": email, "message": "Please score this"},
        )
        if r is None or r.status_code != 201:
            return False
        self.api.accepted.delegations[qid] = email
        return True

    async def answer_as_delegate(self, qid: str) -> None:
        token = await self.inbox.invitation(self.api.accepted.delegations[qid])
        if token is None:
            await self.answer(qid, self.lead, "")  # the lead does it after all
            return
        as_delegate = {"X-Delegate-Token": token}
        await self.answer(qid, as_delegate, "/delegate")
        await self.api.call(
            "POST",
            "questionnaire",
            f"/delegate/questionnaires/{qid}/return",
            headers=as_delegate,
            json={"comment": "All scored"},
        )

    async def submit(self, qid: str) -> None:
        r = await self.api.call(
            "POST", "questionnaire", f"/questionnaires/{qid}/submit", headers=self.lead
        )
        if r is not None and r.status_code == 200:
            self.api.accepted.submitted.append(qid)
        elif r is not None:
            self.api.accepted.not_submittable[qid] = f"{r.status_code} {r.text[:300]}"

    async def sign_off(self) -> None:
        r = await self.api.call(
            "POST",
            "questionnaire",
            f"/cycles/{CYCLE}/returns/{self.code}/sign-off",
            headers=self.lead,
            json={"confirm": True},
        )
        if r is not None and r.status_code == 200:
            self.api.accepted.signed_off.append(self.code)
            if self.index % 2 == 0:
                await self.time_until_reported()

    async def time_until_reported(self) -> None:
        """Seconds from the sign-off's 2xx until reporting's return progress shows it."""
        started = time.monotonic()
        while time.monotonic() - started < 120:
            r = await self.api.call(
                "GET",
                "reporting",
                "/reports/return-progress",
                headers=self.admin,
                params={"cycle": CYCLE, "organisation": self.code},
            )
            if r is not None and r.status_code == 200 and _says_signed_off(r.json()):
                self.api.accepted.submit_to_visible.append(time.monotonic() - started)
                return
            await asyncio.sleep(0.1)


def _says_signed_off(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("signed_off") is True:
            return True
        return any(_says_signed_off(v) for v in value.values())
    if isinstance(value, list):
        return any(_says_signed_off(v) for v in value)
    return False


def organisation_codes(count: int) -> list[str]:
    """Distinct four-letter codes (as primary care trusts' are)."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    rng = random.Random(2009)
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("R" + "".join(rng.choice(letters) for _ in range(3)))
    return sorted(codes)


async def drive(api: Api, scale: Scale, mail_dir: Path, until: float | None = None) -> None:
    """The whole cycle, `scale.concurrency` organisations at a time (`until`: a monotonic
    time after which no organisation is started, for a time-boxed part of a national run)."""
    await open_cycle(api)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(organisation_codes(scale.organisations)):
        queue.put_nowait(item)
    inbox = Inbox(mail_dir)

    async def worker() -> None:
        while not queue.empty() and (until is None or time.monotonic() < until):
            index, code = queue.get_nowait()
            await Organisation(api, code, index, scale, inbox).run()
            api.accepted.finished += 1

    await asyncio.gather(*(worker() for _ in range(scale.concurrency)))


async def send_bulletin(api: Api) -> None:
    """The national team thanks every lead: a bulletin to all of them."""
    r = await api.call(
        "POST",
        "notification",
        "/bulletins",
        headers=api.headers("national-admin"),
        json={"subject": "Thank you", "body": "The mapping is complete."},
    )
    if r is not None and r.status_code in (200, 201, 202):
        api.accepted.bulletins.append(r.json().get("id", "bulletin"))
