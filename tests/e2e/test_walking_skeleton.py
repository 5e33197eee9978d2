"""The walking skeleton, end to end, with every part real and every service its own process:

POST /organisations (registration) -> OrganisationRegistered appended and outboxed -> relay ->
Kafka -> reporting's consumer -> read model -> GET /organisations?type=... (reporting).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from csm_contracts import Topics
from csm_infra.traces import read_spans
from service_processes import ServiceProcess, service_process


@dataclass
class Stack:
    registration: ServiceProcess
    reporting: ServiceProcess
    traces: Path
    bootstrap: str
    admin: dict[str, str]


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    traces = tmp / "traces.jsonl"

    def service(name: str) -> ServiceProcess:
        return service_process(name, infra, auth_keys, tmp, name, CSM_TRACES_FILE=str(traces))

    s = Stack(
        service("registration"),
        service("reporting"),
        traces,
        infra.bootstrap,
        admin=auth_keys.headers("national-admin"),
    )
    s.registration.start()
    s.reporting.start()
    try:
        yield s
    finally:
        s.reporting.stop()
        s.registration.stop()


def new_code() -> str:
    return "E" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(4))


async def register(client: httpx.AsyncClient, stack: Stack, code: str) -> httpx.Response:
    response = await client.post(
        f"{stack.registration.url}/organisations",
        json={"code": code, "name": f"{code} PCT", "kind": "pct", "region": "london"},
        headers=stack.admin,
    )
    assert response.status_code == 201, response.text
    return response


async def projected(client: httpx.AsyncClient, stack: Stack) -> dict[str, dict[str, Any]]:
    response = await client.get(
        f"{stack.reporting.url}/organisations", params={"type": "pct"}, headers=stack.admin
    )
    assert response.status_code == 200, response.text
    return {row["code"]: row for row in response.json()}


async def wait_for(
    client: httpx.AsyncClient, stack: Stack, codes: set[str], timeout: float = 90
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await projected(client, stack)
        if codes <= rows.keys():
            return rows
        await asyncio.sleep(0.25)
    missing = codes - (await projected(client, stack)).keys()
    raise AssertionError(f"never projected: {sorted(missing)}")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def test_registration_reaches_reporting_in_one_trace(client, stack: Stack) -> None:
    code = new_code()
    await register(client, stack, code)
    rows = await wait_for(client, stack, {code})
    assert rows[code]["name"] == f"{code} PCT"
    assert rows[code]["applied_events"] == 1
    other = await client.get(
        f"{stack.reporting.url}/organisations",
        params={"type": "local-authority"},
        headers=stack.admin,
    )
    assert code not in {r["code"] for r in other.json()}
    anonymous = await client.get(f"{stack.reporting.url}/organisations")
    assert anonymous.status_code == 401  # reports are for the national team and regulators

    # The same trace id on the request's log line and on the consumer's log line...
    registered = [
        line
        for line in stack.registration.log_lines()
        if line.get("event") == "organisation registered" and line.get("organisation_id") == code
    ]
    applied = [
        line
        for line in stack.reporting.log_lines()
        if line.get("event") == "event processed"
        and line.get("key") == code
        and line.get("event_type") == "registration.OrganisationRegistered"
    ]
    assert len(registered) == 1 and len(applied) == 1
    trace_id = registered[0]["trace_id"]
    assert applied[0]["trace_id"] == trace_id
    # ...on the request log line (route template, status, the caller's role, no token)...
    (request,) = [
        line
        for line in stack.registration.log_lines()
        if line.get("event") == "request" and line.get("trace_id") == trace_id
    ]
    assert (request["method"], request["route"], request["status"]) == (
        "POST",
        "/organisations",
        201,
    )
    assert request["role"] == "national-admin" and request["duration_ms"] > 0
    assert "authorization" not in json.dumps(request).lower()
    # ...and in the exported spans (OTLP JSON): the HTTP server span, its queries, and the
    # consumer's span share it, with the OpenTelemetry conventions' attributes.
    spans = read_spans(stack.traces)
    in_trace = [s for s in spans if s.trace_id == trace_id]
    (server,) = [s for s in in_trace if s.service == "registration" and s.kind == "SERVER"]
    assert server.name == "POST /organisations"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/organisations"
    assert server.attributes["http.response.status_code"] == 201
    queries = [s for s in in_trace if s.kind == "CLIENT" and s.parent_span_id == server.span_id]
    assert queries and all(q.attributes["db.system.name"] == "postgresql" for q in queries)
    assert {"BEGIN", "COMMIT"} <= {q.attributes["db.operation.name"] for q in queries}
    consumed = [s for s in in_trace if s.service == "reporting" and s.kind == "CONSUMER"]
    assert consumed and all(c.attributes["messaging.system"] == "kafka" for c in consumed)
    assert consumed[0].attributes["messaging.destination.name"] == Topics.REGISTRATION
    # The relay's batch is a trace of its own, linked to the request (not in it: one batch
    # carries many requests' events).
    assert any(
        s.service == "registration"
        and s.kind == "PRODUCER"
        and s.name == f"send {Topics.REGISTRATION}"
        for s in spans
    )
    # `csm-traces show` prints that trace as one tree across both services.
    shown = subprocess.run(
        [
            str(Path(sys.executable).parent / "csm-traces"),
            "--file",
            str(stack.traces),
            "show",
            trace_id,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "registration server POST /organisations" in shown
    assert "reporting consumer" in shown


async def test_an_idle_stack_makes_no_traces(stack: Stack) -> None:
    # Every loop polls (the relay each second, the watchdog every 2 s): none of it is traced.
    before = len(read_spans(stack.traces))
    await asyncio.sleep(8)
    window = read_spans(stack.traces)[before:]
    started = {s.trace_id for s in window if s.parent_span_id is None}
    assert not [s for s in window if s.kind == "CLIENT" and s.parent_span_id is None]
    assert len(started) <= 1, [s.name for s in window]


async def _find_record(bootstrap: str, code: str) -> Any:
    consumer = AIOKafkaConsumer(
        Topics.REGISTRATION,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if dict(r.headers).get("ce_subject") == f"organisation-{code}".encode():
                        return r
    finally:
        await consumer.stop()
    raise AssertionError(f"no message for {code} on {Topics.REGISTRATION}")


async def test_the_same_message_delivered_twice_changes_the_projection_once(
    client, stack: Stack
) -> None:
    code = new_code()
    await register(client, stack, code)
    await wait_for(client, stack, {code})
    record = await _find_record(stack.bootstrap, code)
    event_id = dict(record.headers)["ce_id"].decode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            Topics.REGISTRATION, value=record.value, key=record.key, headers=list(record.headers)
        )
    finally:
        await producer.stop()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(
            line.get("event") == "duplicate event ignored" and line.get("event_id") == event_id
            for line in stack.reporting.log_lines()
        ):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the redelivered message never reached the consumer")
    rows = await projected(client, stack)
    assert rows[code]["applied_events"] == 1


async def test_killing_reporting_mid_stream_loses_nothing(client, stack: Stack) -> None:
    first = [new_code() for _ in range(40)]
    for code in first:
        await register(client, stack, code)
    # Let it get part of the way, then kill it without warning.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(set(first) & (await projected(client, stack)).keys()) >= 5:
            break
        await asyncio.sleep(0.05)
    stack.reporting.kill()
    later = [new_code() for _ in range(10)]
    for code in later:
        await register(client, stack, code)
    stack.reporting.start()
    rows = await wait_for(client, stack, set(first) | set(later), timeout=120)
    assert all(rows[code]["applied_events"] == 1 for code in first + later)


async def test_every_service_process_answers_metrics_prometheus_can_read(
    client, stack: Stack
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    for service in (stack.registration, stack.reporting):
        response = await client.get(f"{service.url}/metrics")
        assert response.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        assert "http_server_request_duration_seconds" in families, service.name
        assert families["csm_loop_healthy"].samples, service.name
        pool = families["db_client_connection_count"].samples
        assert {s.labels["db_client_connection_state"] for s in pool} == {"used", "idle"}
    # Reporting's own projection lag comes with the kernel's metrics, in one answer.
    assert "csm_projection_lag_seconds" in families
    assert "csm_consumer_lag_messages" in families
