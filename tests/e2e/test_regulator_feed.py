"""The regulators' feed as a regulator reads it, with clients nobody in this project wrote.

Registration and questionnaire run as their own processes on the suite's broker. A lead signs a
return off, the national team reopens it (SignOffWithdrawn), the operator rotates the signing
key with the command, and the lead signs off again. Then the verification recipe of
docs/regulators.md, run as the document has it (confluent-kafka, joserfc), reads the public
topic in fresh consumer groups from the earliest offset, checks every signature against the
JWK Set fetched over HTTP, de-duplicates by `ce_id`, and refuses a tampered copy.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from csm_contracts import Topics
from service_processes import ServiceProcess, running_services, service_process

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "regulators.md"
CE_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_dataschema",
    "ce_partitionkey",
    "ce_signature",
)


def recipe() -> dict[str, Any]:
    """The Python block docs/regulators.md marks as the recipe, run as a module would be
    imported (its `__main__` part does not run)."""
    text = DOC.read_text()
    match = re.search(r"<!-- recipe:[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/regulators.md has no recipe block"
    namespace: dict[str, Any] = {"__name__": "regulator_recipe"}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def services(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    tmp = tmp_path_factory.mktemp("e2e-regulator")

    def service(name: str, **extra: str) -> ServiceProcess:
        return service_process(name, infra, auth_keys, tmp, f"feed_{name}", **extra)

    running = {
        "registration": service("registration"),
        "questionnaire": service("questionnaire", CSM_CYCLE_TICK_SECONDS="0.5"),
    }
    with running_services(running):
        yield running


def questionnaire_command(service: ServiceProcess, *args: str) -> str:
    exe = Path(sys.executable).parent / "csm-questionnaire"
    done = subprocess.run(
        [str(exe), *args], env=service.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def sign_off(client: httpx.AsyncClient, q: ServiceProcess, org: str, lead: dict) -> None:
    r = await client.post(
        f"{q.url}/cycles/2009-10/returns/{org}/sign-off", headers=lead, json={"confirm": True}
    )
    assert r.status_code == 200, r.text


async def a_signed_off_return_reopened(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], auth_keys: Any
) -> tuple[str, dict[str, str], str]:
    """A new organisation's return, signed off and then reopened; (org, lead, questionnaire)."""
    registration, q = services["registration"], services["questionnaire"]
    admin = auth_keys.headers("national-admin")
    org = "R" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
    lead = auth_keys.headers("mapping-lead", org=org)
    r = await client.post(
        f"{registration.url}/organisations",
        headers=admin,
        json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
    )
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    r = await client.post(
        f"{q.url}/cycles",
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
        r = await client.get(f"{q.url}/questionnaires", params={"cycle": "2009-10"}, headers=lead)
        owed = r.json() if r.status_code == 200 else []
        await asyncio.sleep(0.3)
    [sa] = owed
    view = (await client.get(f"{q.url}/questionnaires/{sa['id']}", headers=lead)).json()
    answers = {
        question["id"]: {"score": 2, "evidence": "Board minutes"}
        for section in view["sections"]
        for question in section["questions"]
    }
    r = await client.patch(
        f"{q.url}/questionnaires/{sa['id']}/answers",
        headers=lead,
        json={"version": view["version"], "answers": answers},
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{q.url}/questionnaires/{sa['id']}/submit", headers=lead)
    assert r.status_code == 200, r.text
    await sign_off(client, q, org, lead)
    r = await client.post(
        f"{q.url}/cycles/2009-10/returns/{org}/reopen",
        headers=admin,
        json={"reason": "NI 51 evidence queried by the regulator"},
    )
    assert r.status_code == 200, r.text
    return org, lead, sa["id"]


def public_partitions(consumer: Consumer, deadline: float) -> list[int]:
    """The public topic's partitions, once the broker has the topic."""
    while time.monotonic() < deadline:
        topic = consumer.list_topics(Topics.PUBLIC_SIGNOFFS, 10).topics.get(Topics.PUBLIC_SIGNOFFS)
        if topic is not None and not topic.error and topic.partitions:
            return sorted(topic.partitions)
        time.sleep(0.5)
    raise AssertionError("the public topic never appeared")


def read_raw(
    bootstrap: str, org: str, until: Callable[[list[Any]], bool], timeout: float = 90
) -> list[Any]:
    """Our organisation's messages on the public topic, every copy (delivery is at least once),
    with a plain consumer, once `until` holds of them and no more arrive for a moment."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"regulator-raw-{uuid.uuid4().hex[:8]}",  # never joined: assigned
            "enable.auto.commit": False,
        }
    )
    # Every partition from its start, without a group's join (the recipe below joins one).
    deadline = time.monotonic() + timeout
    consumer.assign(
        [
            TopicPartition(Topics.PUBLIC_SIGNOFFS, p, OFFSET_BEGINNING)
            for p in public_partitions(consumer, deadline)
        ]
    )
    ours: list[Any] = []
    quiet_since: float | None = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                if until(ours):
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 3:
                        return ours
                continue
            if message.error():  # the topic not made yet: librdkafka keeps asking
                assert not message.error().fatal(), message.error()
                continue
            quiet_since = None
            if message.key() == org.encode():
                ours.append(message)
    finally:
        consumer.close()
    raise AssertionError(f"{len(ours)} messages for {org}: not what was awaited")


def headers_of(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers() or []}


def distinct(messages: list[Any]) -> dict[str, list[Any]]:
    """ce_id -> every copy, in the order the events first appear."""
    out: dict[str, list[Any]] = {}
    for message in messages:
        out.setdefault(headers_of(message)["ce_id"], []).append(message)
    return out


def follow(
    feed: dict[str, Any], bootstrap: str, jwks_url: str
) -> tuple[list[tuple[dict[str, str], dict[str, Any], str]], list[tuple[dict[str, str], str]]]:
    """The recipe's `follow` in a fresh consumer group: what it handled and what it refused."""
    handled: list[tuple[dict[str, str], dict[str, Any], str]] = []
    refused: list[tuple[dict[str, str], str]] = []
    feed["follow"](
        bootstrap,
        jwks_url,
        f"regulator-{uuid.uuid4().hex[:8]}",
        lambda headers, event, kid: handled.append((headers, event, kid)),
        lambda headers, reason: refused.append((headers, reason)),
        stop_when_idle=8,
    )
    return handled, refused


async def test_a_regulator_verifies_the_feed_with_its_own_tools(
    services: dict[str, ServiceProcess], infra: Any, auth_keys: Any
) -> None:
    feed = recipe()
    q = services["questionnaire"]
    jwks_url = f"{q.url}/.well-known/jwks.json"
    async with httpx.AsyncClient(timeout=30) as client:
        org, lead, questionnaire_id = await a_signed_off_return_reopened(
            client, services, auth_keys
        )
        first = read_raw(infra.bootstrap, org, lambda ms: len(distinct(ms)) >= 2)
        events = distinct(first)
        assert [headers_of(copies[0])["ce_type"] for copies in events.values()] == [
            "questionnaire.CycleSignedOff",
            "questionnaire.SignOffWithdrawn",
        ]
        # The CloudEvents binary binding: every attribute a header, the value the payload.
        old_keys = feed["fetch_keys"](jwks_url)
        [old_kid] = [key.kid for key in old_keys]
        for message in first:
            headers = headers_of(message)
            assert set(CE_HEADERS) <= set(headers), set(CE_HEADERS) - set(headers)
            assert headers["ce_specversion"] == "1.0"
            assert headers["ce_source"] == "/csm/questionnaire"
            assert headers["ce_partitionkey"] == org
            uuid.UUID(headers["ce_id"])
            assert datetime.fromisoformat(headers["ce_time"]).utcoffset() == timedelta(0)
            assert json.loads(message.value())["organisation_id"] == org
            assert feed["verify"](message.value(), headers["ce_signature"], old_keys) == old_kid

        # The operator rotates the key; the running service signs the next sign-off with it.
        questionnaire_command(q, "signing-keys", "rotate")
        r = await client.post(
            f"{q.url}/questionnaires/{questionnaire_id}/withdraw-submission",
            headers=lead,
            json={"reason": "evidence updated"},
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"{q.url}/questionnaires/{questionnaire_id}/submit", headers=lead)
        assert r.status_code == 200, r.text
        await sign_off(client, q, org, lead)
        jwks = (await client.get(jwks_url)).json()
    new_kid = jwks["keys"][0]["kid"]
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]  # the old key stays published

    # Everything is published again, signed with the key active now: copies for the regulator
    # to skip by ce_id, each verifiable.
    questionnaire_command(q, "republish", "--from", "0")
    keys = feed["fetch_keys"](jwks_url)

    def kids(messages: list[Any]) -> list[set[str]]:
        return [
            {feed["verify"](m.value(), headers_of(m)["ce_signature"], keys) for m in copies}
            for copies in distinct(messages).values()
        ]

    raw = read_raw(
        infra.bootstrap, org, lambda ms: kids(ms)[:2] == [{old_kid, new_kid}, {old_kid, new_kid}]
    )
    # Two sign-offs and a withdrawal; the first two have copies under both keys now.
    assert kids(raw) == [{old_kid, new_kid}, {old_kid, new_kid}, {new_kid}]

    # A tampered copy (a count changed on the way) does not verify.
    signed_off = next(iter(events.values()))[0]
    event = json.loads(signed_off.value())
    event["answers_count"] += 1
    tampered = json.dumps(event, separators=(",", ":")).encode()
    with pytest.raises(feed["JoseError"]):
        feed["verify"](tampered, headers_of(signed_off)["ce_signature"], old_keys)
    producer = Producer({"bootstrap.servers": infra.bootstrap})
    producer.produce(
        Topics.PUBLIC_SIGNOFFS, key=signed_off.key(), value=tampered, headers=signed_off.headers()
    )
    assert producer.flush(30) == 0

    # The recipe, as the document has it, in a fresh group from the earliest offset.
    handled, refused = follow(feed, infra.bootstrap, jwks_url)
    ours = [(h, e, kid) for h, e, kid in handled if h["ce_partitionkey"] == org]
    assert [(h["ce_type"], kid) for h, _, kid in ours] == [
        ("questionnaire.CycleSignedOff", old_kid),  # each event once, in the org's order
        ("questionnaire.SignOffWithdrawn", old_kid),
        ("questionnaire.CycleSignedOff", new_kid),
    ]
    first_id = ours[0][0]["ce_id"]
    assert ours[1][1]["sign_off_event_id"] == first_id
    assert ours[2][1]["supersedes"] == ours[0][1]["signed_off_at"]
    # The only message of ours refused is the tampered one; others' are messages signed by
    # other test stacks' keys, which this questionnaire does not publish.
    refused_ours = [h["ce_id"] for h, _ in refused if h.get("ce_partitionkey") == org]
    assert refused_ours == [first_id]
    assert ours[0][1]["answers_count"] == event["answers_count"] - 1


def test_make_run_and_the_commands_agree_where_the_keys_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from csm_infra.settings import InfraSettings
    from questionnaire.bootstrap import QuestionnaireSettings

    # `make run` hands questionnaire <var dir>/signing-keys; a command run beside it, with only
    # CSM_VAR_DIR (or nothing: ./var) set, finds the same directory.
    env = InfraSettings(var_dir=tmp_path).service_env("questionnaire")
    assert env["CSM_SIGNING_KEY_DIR"] == str(tmp_path / "signing-keys")
    assert "CSM_SIGNING_KEY_DIR" not in InfraSettings(var_dir=tmp_path).service_env("reporting")
    monkeypatch.delenv("CSM_SIGNING_KEY_DIR", raising=False)
    monkeypatch.setenv("CSM_VAR_DIR", str(tmp_path))
    assert QuestionnaireSettings().signing_key_dir == tmp_path / "signing-keys"
    monkeypatch.delenv("CSM_VAR_DIR")
    assert QuestionnaireSettings().signing_key_dir == Path("var/signing-keys")
