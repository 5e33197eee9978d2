"""`/metrics` and the request log of an app built by `create_app`, against the real servers:
scraped over HTTP and read back with Prometheus's own text parser."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families
from test_consumer import _event

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationRegistered
from csm_infra.ports import free_port
from csm_kernel.auth import Principal, TokenVerifier, require
from csm_kernel.http import instrument
from csm_kernel.runtime import Runtime, create_app, runtime_of
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from kafka_helpers import eventually, unique_topic

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (what Prometheus itself would read)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@asynccontextmanager
async def _running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _things() -> APIRouter:
    router = APIRouter()

    @router.post("/things/{code}", status_code=201)
    async def add(
        code: str,
        runtime: Annotated[Runtime, Depends(runtime_of)],
        caller: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
    ) -> dict[str, str]:
        payload = OrganisationRegistered(
            organisation_id=code, code=code, name="Anytown PCT", kind="pct", region="london"
        )
        await runtime.require_store().append(
            f"organisation-{code}",
            0,
            [NewEvent.from_payload(payload)],
            AppendContext(actor=caller.actor),
        )
        return {"code": code}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return router


async def test_a_publishing_service_reports_requests_and_what_it_has_not_published(
    infra, auth_keys
) -> None:
    # A broker nobody listens on: the relay cannot publish, so the backlog stays to be seen.
    settings = ServiceSettings(
        database_url=await infra.create_database(),
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        auth_public_key_file=auth_keys.public_file,
    )
    app = create_app("things", settings, routers=[_things()], publishes=True)
    admin = auth_keys.headers("national-admin")
    with structlog.testing.capture_logs() as logs:
        async with _running(app) as client:
            assert (await client.post("/things/AB1", headers=admin)).status_code == 201
            assert (await client.post("/things/AB2", headers=admin)).status_code == 201
            assert (await client.post("/things/AB3")).status_code == 401
            assert (await client.get("/boom")).status_code == 500
            assert (await client.get("/nowhere/7")).status_code == 404
            await client.request("BREW", "/boom")
            assert (await client.get("/health/live")).status_code == 200
            await asyncio.sleep(1.2)  # the relay tries (and fails) at least once
            scrape = await client.get("/metrics")
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain")
            samples = _samples(scrape.text)
            again = _samples((await client.get("/metrics")).text)
            status = (await client.get("/status")).json()

    count = "http_server_request_duration_seconds_count"
    route = {"http_request_method": "POST", "http_route": "/things/{code}"}
    assert _value(samples, count, **route, http_response_status_code="201") == 2
    assert _value(samples, count, **route, http_response_status_code="401") == 1
    boom = {"http_request_method": "GET", "http_route": "/boom"}
    assert _value(samples, count, **boom, http_response_status_code="500") == 1
    # An unknown path is one series, whatever the path: no label per id.
    unmatched = {"http_request_method": "GET", "http_route": "unmatched"}
    assert _value(samples, count, **unmatched, http_response_status_code="404") == 1
    odd = {"http_request_method": "_OTHER", "http_route": "/boom"}
    assert _value(samples, count, **odd, http_response_status_code="405") == 1
    routes = {dict(labels).get("http_route", "") for _, labels in again}
    assert not any(r.startswith(("/health", "/metrics")) for r in routes)
    assert _value(samples, "csm_relay_unpublished_events") == 2
    assert _value(samples, "csm_relay_oldest_unpublished_age_seconds") > 0
    # No sign-off among them: the regulators' alert stays quiet.
    assert _value(samples, "csm_relay_oldest_unpublished_public_age_seconds") == 0
    assert _value(samples, "csm_relay_published_events_total") == 0
    assert _value(samples, "csm_relay_publish_errors_total") >= 1
    assert _value(samples, "csm_loop_healthy", loop="relay") == 1
    # The broker does not answer: /metrics and /status say so (the database does).
    assert _value(samples, "csm_broker_reachable") == 0
    assert status["broker_reachable"] is False and status["database_reachable"] is True
    assert status["version"] == "0.1.0" and status["relay"]["unpublished"] == 2
    (info,) = [labels for (name, labels) in samples if name == "csm_service_info"]
    assert dict(info) == {"service": "things", "version": "0.1.0"}
    pool = {
        dict(labels)["db_client_connection_state"]: value
        for (metric, labels), value in samples.items()
        if metric == "db_client_connection_count"
    }
    assert set(pool) == {"used", "idle"} and sum(pool.values()) >= 1
    assert _value(samples, "process_resident_memory_bytes") > 0

    # One line per request served, probes and scrapes aside; the caller's role, no token.
    requests = [e for e in logs if e["event"] == "request"]
    assert [(e["method"], e["route"], e["status"]) for e in requests] == [
        ("POST", "/things/{code}", 201),
        ("POST", "/things/{code}", 201),
        ("POST", "/things/{code}", 401),
        ("GET", "/boom", 500),
        ("GET", "unmatched", 404),
        ("_OTHER", "/boom", 405),
        ("GET", "/status", 200),
    ]
    assert requests[0]["role"] == "national-admin" and requests[2]["role"] is None
    assert all(e["duration_ms"] >= 0 for e in requests)
    assert not any("Bearer" in str(e) or "AB1" in str(e) for e in requests)


async def test_a_consuming_service_reports_messages_by_outcome_and_its_lag(infra) -> None:
    topic, group = unique_topic("metrics"), f"g-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    async def handle(conn: Any, envelope: Any, event: OrganisationRegistered) -> None:
        seen.append(event.code)

    def subscriptions(runtime: Runtime, broker: Any) -> None:
        runtime.subscribe(
            broker,
            topic,
            runtime.event_consumer(
                "metrics.consumer",
                group_id=group,
                handlers={OrganisationRegistered.EVENT_TYPE: handle},
            ),
            group_id=group,
            description="test",
        )

    settings = ServiceSettings(
        database_url=await infra.create_database(),
        kafka_bootstrap=infra.bootstrap,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=500,
        watchdog_interval_seconds=0.3,
    )
    app = create_app("consuming", settings, subscriptions=subscriptions)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        key, value, headers = await _event("MX1")
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        await producer.send_and_wait(topic, value=b"not an event", key=b"x")
        async with _running(app) as client:
            runtime: Runtime = app.state.runtime

            async def settled() -> bool:
                consumer = runtime.subscriptions[0].consumer
                lag = runtime.subscriptions[0].lag
                return consumer.dead_lettered == 1 and bool(lag) and set(lag.values()) == {0}

            await eventually(settled, timeout=60, what="both messages consumed")
            samples = _samples((await client.get("/metrics")).text)
    finally:
        await producer.stop()

    assert seen == ["MX1"]
    name = "metrics.consumer"
    messages = "csm_consumer_messages_total"
    assert _value(samples, messages, consumer=name, outcome="handled") == 1
    assert _value(samples, messages, consumer=name, outcome="dead-lettered") == 1
    assert _value(samples, "csm_consumer_dead_lettered_total", consumer=name) == 1
    assert _value(samples, "csm_dead_letters_pending", consumer=name) == 1
    assert _value(samples, "csm_consumer_retries_total", consumer=name) == 0
    assert _value(samples, "csm_consumer_tracking_rows_pruned_total", consumer=name) == 0
    lag = {
        dict(labels)["messaging_destination_partition_id"]: value
        for (metric, labels), value in samples.items()
        if metric == "csm_consumer_lag_messages"
    }
    assert lag and set(lag.values()) == {0}
    assert _value(samples, "csm_loop_healthy", loop="consumer-watchdog") == 1
    assert _value(samples, "csm_broker_reachable") == 1


async def test_a_service_adds_its_own_metrics_through_the_runtime(infra) -> None:
    from prometheus_client import Gauge

    settings = ServiceSettings(database_url=await infra.create_database())
    app = create_app("own", settings)
    runtime: Runtime = app.state.runtime
    queued = Gauge("csm_things_queued", "Things waiting", registry=runtime.metrics.registry)

    async def count_queued() -> None:
        store = PostgresEventStore(runtime.require_pool())
        queued.set(await store.pool.fetchval("SELECT count(*) FROM events") + 5)

    runtime.metrics.on_scrape(count_queued)
    async with _running(app) as client:
        samples = _samples((await client.get("/metrics")).text)
    assert _value(samples, "csm_things_queued") == 5


async def test_a_service_with_its_own_metrics_route_gets_the_kernels_appended(infra) -> None:
    from fastapi.responses import PlainTextResponse

    router = APIRouter()

    @router.get("/metrics")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("# TYPE csm_own_thing gauge\ncsm_own_thing 7.0\n")

    settings = ServiceSettings(database_url=await infra.create_database())
    app = create_app("owner", settings, routers=[router])
    async with _running(app) as client:
        await client.get("/nowhere")
        samples = _samples((await client.get("/metrics")).text)
    assert _value(samples, "csm_own_thing") == 7
    assert _value(samples, "csm_service_start_time_seconds", service="owner") > 0
    count = "http_server_request_duration_seconds_count"
    labels = {"http_request_method": "GET", "http_route": "unmatched"}
    assert _value(samples, count, **labels, http_response_status_code="404") == 1


async def test_an_app_without_a_runtime_logs_the_callers_it_verifies_and_has_metrics(
    auth_keys,
) -> None:
    # As the portal: its own app, `instrument`, and the access token checked by its own code
    # (from the session cookie), not by the `require` dependency.
    app = FastAPI(title="CSM portal")
    verifier = TokenVerifier(auth_keys.public_file.read_bytes())

    @app.get("/pages/{page}")
    async def page(page: str, request: Request) -> dict[str, str]:
        if token := request.cookies.get("session"):
            verifier.verify(token)
        return {"page": page}

    instrument(app)
    cookie = {"cookie": f"session={auth_keys.token('regulator')}"}
    with structlog.testing.capture_logs() as logs:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/pages/home", headers=cookie)).status_code == 200
            assert (await client.get("/pages/home")).status_code == 200
            samples = _samples((await client.get("/metrics")).text)
    lines = [(e["route"], e["role"]) for e in logs if e["event"] == "request"]
    assert lines == [("/pages/{page}", "regulator"), ("/pages/{page}", None)]
    count = "http_server_request_duration_seconds_count"
    labels = {"http_request_method": "GET", "http_route": "/pages/{page}"}
    assert _value(samples, count, **labels, http_response_status_code="200") == 2
