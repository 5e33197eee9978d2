"""A service started while the broker is down still takes requests, and nothing is lost: the
events wait in its store and reach Kafka once the broker is back."""

from __future__ import annotations

import asyncio
import time

import httpx

from csm_contracts import Topics
from csm_kernel.settings import ServiceSettings
from registration.bootstrap import build_app


async def test_events_appended_while_the_broker_is_down_are_published_when_it_returns(
    infra, auth_keys
) -> None:
    from aiokafka import AIOKafkaConsumer

    dsn = await infra.create_database("outage")
    infra.stop_broker()
    try:
        app = build_app(
            ServiceSettings(
                database_url=dsn,
                kafka_bootstrap=infra.bootstrap,
                auth_public_key_file=auth_keys.public_file,
            )
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers=auth_keys.headers("national-admin"),
            ) as client:
                started = time.monotonic()
                response = await client.post(
                    "/organisations",
                    json={"code": "OUT1", "name": "Outage PCT", "kind": "pct", "region": "london"},
                )
                assert response.status_code == 201, response.text
                assert time.monotonic() - started < 5, "the request waited for the broker"
                await asyncio.sleep(1)  # the relay is failing to connect meanwhile
                infra.start_broker()

                consumer = AIOKafkaConsumer(
                    Topics.REGISTRATION,
                    bootstrap_servers=infra.bootstrap,
                    auto_offset_reset="earliest",
                    enable_auto_commit=False,
                )
                await consumer.start()
                try:
                    deadline = time.monotonic() + 60
                    subjects: set[bytes] = set()
                    while b"organisation-OUT1" not in subjects and time.monotonic() < deadline:
                        for records in (await consumer.getmany(timeout_ms=500)).values():
                            subjects |= {dict(r.headers)["ce_subject"] for r in records}
                finally:
                    await consumer.stop()
                assert b"organisation-OUT1" in subjects
    finally:
        infra.ensure_broker_running()
