"""`csm-audit replay`: a bundle of a real two-cycle history, replayed into a fresh database, renders
the reports a live reporting service (real HTTP, real PostgreSQL) serves from the same events;
a difference is listed and the exit status says so; a tampered bundle is refused."""

from __future__ import annotations

import asyncio
import gzip
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from csm_audit.replay import replay, replay_command
from csm_audit.replay_bundle import BundleInvalid, open_bundle, write_bundle
from csm_contracts.events import OrganisationRegistered
from csm_infra.ports import free_port
from reporting.adapters import journal
from reporting.adapters.projections import PROJECTIONS
from reporting.adapters.projector import Projector
from reporting.bootstrap import ReportingSettings, build_app
from reporting_history import History, as_stores, in_history_order
from responses_history import build


@dataclass
class Live:
    url: str
    token: str
    services: object


@pytest.fixture
async def live(infra, auth_keys) -> AsyncIterator[Live]:
    """The reporting service over real HTTP on a fresh database."""
    dsn = await infra.create_database("rep_live")
    app = build_app(
        ReportingSettings(
            database_url=dsn,
            kafka_bootstrap=infra.bootstrap,
            auth_public_key_file=auth_keys.public_file,
            projector_idle_seconds=0.1,
        )
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.05)
    try:
        yield Live(
            f"http://127.0.0.1:{port}", auth_keys.token("national-admin"), app.state.services
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def _record(services, events) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        await journal.record(conn, events)
    await Projector(services.pool, PROJECTIONS).catch_up_all()


async def test_a_bundle_replays_to_the_live_reports(infra, live, tmp_path: Path) -> None:
    history = History()
    build(history)
    order = history.take()
    stores = as_stores(order)
    write_bundle(tmp_path / "bundle", stores)
    await _record(live.services, in_history_order(stores, order))

    out = tmp_path / "out"
    summary = await replay(
        tmp_path / "bundle",
        out,
        database_url=await infra.create_database("replay_cli"),
        compare_with=live.url,
        token=live.token,
    )
    assert summary["events_journalled"] == len(order) and summary["refused"] == []
    assert summary["differences"] == 0
    assert summary["signed_by"]
    index = json.loads((out / "index.json").read_text())
    written = [e for e in index["reports"] if e["status"] == 200]
    assert len(written) > 40
    for entry in written:
        body = json.loads((out / entry["files"][0]).read_text())
        assert body["report"] == entry["report"] and "tables" in body
        with zipfile.ZipFile(out / entry["files"][1]) as archive:  # one CSV per table
            assert "README.txt" in archive.namelist()
            assert len(archive.namelist()) >= 1 + len(body["tables"])
    assert json.loads((out / "differences.json").read_text()) == []

    # The live service learns of one more organisation: the CLI lists it and exits 1.
    history.add(
        OrganisationRegistered(
            organisation_id="00ZZ",
            code="00ZZ",
            name="Late Council",
            kind="local-authority",
            region="london",
            partnership_areas=["00ZZ"],
        )
    )
    await _record(live.services, history.take())
    status = await asyncio.to_thread(
        replay_command,
        [
            str(tmp_path / "bundle"),
            "--out",
            str(tmp_path / "again"),
            "--report",
            "organisations",
            "--database-url",
            await infra.create_database("replay_cli2"),
            "--compare-with",
            live.url,
            "--token",
            live.token,
        ],
    )
    assert status == 1
    found = json.loads((tmp_path / "again" / "differences.json").read_text())
    assert any(d["live"] == "Late Council" for d in found)
    assert all(d["report"] == "organisations" for d in found)


def test_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    history = History()
    build(history)
    stores = as_stores(history.take())
    root = tmp_path / "bundle"
    manifest = write_bundle(root, stores)
    bundle = open_bundle(root)
    assert (
        sum(1 for _ in bundle.events("questionnaire"))
        == manifest["stores"]["questionnaire"]["count"]
    )

    events = root / "events" / "registration.jsonl.gz"
    lines = gzip.decompress(events.read_bytes()).splitlines()
    lines[0] = lines[0].replace(b"Anytown", b"Anyt0wn")
    events.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(BundleInvalid, match=r"registration\.jsonl\.gz"):
        open_bundle(root)

    # A manifest rewritten to match the changed file no longer matches its signature.
    changed = json.loads((root / "manifest.json").read_text())
    changed["stores"]["registration"].pop("sha256")
    changed["stores"]["registration"].pop("bytes")
    (root / "manifest.json").write_text(json.dumps(changed))
    with pytest.raises(BundleInvalid, match="signature"):
        open_bundle(root)
    assert replay_command([str(root), "--out", str(tmp_path / "out")]) == 2
