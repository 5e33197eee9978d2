"""The offline replay: a history replayed into a fresh database renders the very reports the live
service serves from the same events (real PostgreSQL both sides, the live one over HTTP), and
a difference between them is listed."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import CyclePhaseChanged, Phase
from csm_kernel.http import json_bytes
from progress_history import CYCLE, TIMETABLE, directory_history, progress_history
from reporting.adapters import journal
from reporting.application.replaying import Refused, admit, arrival_order, differences
from reporting.bootstrap import NotFresh, replaying
from reporting_history import History, as_stores, in_history_order
from responses_history import build


class LiveOverHttp:
    """The live service's reports as a reader gets them (`LiveReports`)."""

    def __init__(self, client: httpx.AsyncClient, headers: Mapping[str, str]) -> None:
        self.client, self.headers = client, dict(headers)

    async def fetch(
        self, report: str, parameters: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        response = await self.client.get(
            f"/reports/{report}", params=dict(parameters), headers=self.headers
        )
        return response.status_code, response.json() if response.status_code == 200 else None


def plain(value: Any) -> Any:
    return orjson.loads(json_bytes(value))


async def _live(reporting_app, stores, order) -> None:
    """The live service journals the events in the order they were recorded, as the consumer."""
    async with reporting_app.services.pool.acquire() as conn, conn.transaction():
        await journal.record(conn, in_history_order(stores, order))
    await reporting_app.services.projector.catch_up_all()


async def test_replay_matches_the_live_service_and_lists_a_difference(infra, reporting_app) -> None:
    build(reporting_app.history)
    order = reporting_app.history.take()
    stores = as_stores(order)
    assert set(stores) == {"registration", "questionnaire"}
    await _live(reporting_app, stores, order)
    live = LiveOverHttp(reporting_app.client, reporting_app.admin)

    dsn = await infra.create_database("replay")
    async with replaying(dsn) as app:
        done = await app.journal_events(arrival_order(stores))
        assert done.refused == [] and done.journalled == sum(len(s) for s in stores.values())
        await app.rebuild()
        rendered = [r async for r in app.render()]
        # Every report of the catalogue, for both cycles and every area and organisation.
        names = {r.report for r in rendered}
        assert names == {r.name for r in app.queries.reports()}
        ok = [r for r in rendered if r.status == 200]
        assert len(ok) > 40
        assert {r.parameters.get("cycle") for r in ok} >= {"2008-09", "2009-10"}
        # The CSV download: a ZIP of one CSV per table with a README saying what it covers.
        for r in ok:
            assert r.csv is not None
            with zipfile.ZipFile(io.BytesIO(r.csv)) as archive:
                assert b"Data as at" in archive.read("README.txt")
        # A self-assessment scorecard for a local authority is a 404 here as it is live.
        assert await app.compare(rendered, live, plain) == []

        profile = next(
            r
            for r in ok
            if r.report == "locality-profile" and r.parameters == {"cycle": CYCLE, "area": "00AA"}
        )
        assert profile.body is not None and profile.body["summary"]

        # An event the live service has and the bundle has not: a difference, listed.
        reporting_app.history.add(
            OrganisationRegistered(
                organisation_id="00ZZ",
                code="00ZZ",
                name="Late Council",
                kind="local-authority",
                region="london",
                partnership_areas=["00ZZ"],
            )
        )
        await reporting_app.record()
        found = await app.compare([r for r in rendered if r.report == "organisations"], live, plain)
        assert found, "an organisation only the live service has must show"
        paths = {d.path for d in found}
        assert any(p.startswith("tables[0].rows[") for p in paths)
        assert any(d.live == "Late Council" for d in found)


async def test_replay_at_a_named_moment_matches_the_live_service(infra, reporting_app) -> None:
    h = reporting_app.history
    progress_history(h)
    directory_history(h)
    # The cycle clock's phase changes, recorded a moment after their timetabled times.
    for old, new, when in (
        (Phase.DATA_ENTRY, Phase.SUMMARY_REPORTS, TIMETABLE.summary_reports),
        (Phase.SUMMARY_REPORTS, Phase.CLOSED, TIMETABLE.data_entry_closes),
    ):
        h.add(
            CyclePhaseChanged(
                cycle=CYCLE, old_phase=old, phase=new, changed_at=when, by_clock=True
            ),
            at=when + timedelta(milliseconds=12),
        )
    order = reporting_app.history.take()
    stores = as_stores(order)
    await _live(reporting_app, stores, order)
    live = LiveOverHttp(reporting_app.client, reporting_app.admin)
    dsn = await infra.create_database("replay")
    async with replaying(dsn) as app:
        await app.journal_events(arrival_order(stores))
        await app.rebuild()
        rendered = [
            r
            async for r in app.render(
                "close", reports=["cycle-progress", "data-quality", "data-quality-organisation"]
            )
        ]
        assert {r.parameters["moment"] for r in rendered} == {"close"}
        assert [r for r in rendered if r.status == 200]
        assert await app.compare(rendered, live, plain) == []
        signed = [r async for r in app.render("sign-off", reports=["return-progress"])]
        assert any(r.status == 200 for r in signed) and any(r.status == 404 for r in signed)
        assert await app.compare(signed, live, plain) == []


def test_differences_are_listed_by_path() -> None:
    replayed = {"summary": {"a": 1, "b": 2.0}, "tables": [{"rows": [{"x": "p"}]}], "about": {}}
    live = {"summary": {"a": 1, "b": 2}, "tables": [{"rows": [{"x": "q"}, {"x": "r"}]}]}
    live["about"] = {"generated_at": "later"}
    assert differences(replayed, live) == [
        ("tables[0].rows[0].x", "p", "q"),
        ("tables[0].rows[1]", None, {"x": "r"}),
    ]
    assert differences({"v": True}, {"v": 1}) == [("v", True, 1)]


def test_arrival_order_merges_the_stores_without_reordering_one() -> None:
    h = History()
    first = h.add(OrganisationRegistered(**_org("00A1")), at=datetime(2009, 1, 1, 9, tzinfo=UTC))
    late = h.add(OrganisationRegistered(**_org("00A2")), at=datetime(2009, 1, 1, 12, tzinfo=UTC))
    # Recorded after `late` in its store, though it occurred earlier: it stays after it.
    early = h.add(OrganisationRegistered(**_org("00A3")), at=datetime(2009, 1, 1, 10, tzinfo=UTC))
    tie = h.add(
        CyclePhaseChanged(
            cycle=CYCLE,
            old_phase=Phase.DATA_ENTRY,
            phase=Phase.SUMMARY_REPORTS,
            changed_at=datetime(2009, 1, 1, 9, tzinfo=UTC),
            by_clock=True,
        ),
        at=datetime(2009, 1, 1, 9, tzinfo=UTC),
    )
    stores = as_stores(h.take())
    merged = [
        e.event_id
        for e in arrival_order(
            {"questionnaire": stores["questionnaire"], "registration": stores["registration"]}
        )
    ]
    # A tie on occurred_at goes to registration; then each store's next event by its time.
    assert merged == [first.event_id, tie.event_id, late.event_id, early.event_id]
    again = [e.event_id for e in arrival_order(stores)]
    assert again == merged


def _org(code: str) -> dict[str, Any]:
    return {
        "organisation_id": code,
        "code": code,
        "name": f"Council {code}",
        "kind": "local-authority",
        "region": "london",
        "partnership_areas": [code],
    }


def test_only_events_the_consumer_would_take_are_journalled() -> None:
    h = History()
    good = h.add(OrganisationRegistered(**_org("00A1")))
    assert admit(good) == good
    unknown = good.model_copy(update={"type": "registration.SomethingNew"})
    refused = admit(unknown)
    assert isinstance(refused, Refused) and "no schema" in refused.reason
    invalid = good.model_copy(update={"data": {**good.data, "kind": "castle"}})
    refused = admit(invalid)
    assert isinstance(refused, Refused) and refused.reason.startswith("invalid-payload")


async def test_a_replay_needs_an_empty_database(infra) -> None:
    dsn = await infra.create_database("replay")
    h = History()
    h.add(OrganisationRegistered(**_org("00A1")))
    async with replaying(dsn) as app:
        await app.journal_events(arrival_order(as_stores(h.take())))
    with pytest.raises(NotFresh, match="already holds a journal"):
        async with replaying(dsn):
            pass
