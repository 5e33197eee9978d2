"""Handler tables keyed by payload class: each handler gets its own class, several for one
type run in order, and a payload of another class is refused rather than misread."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.registration import OrganisationRenamed, PartnershipAreasChanged
from csm_kernel.consumer import RejectedMessage
from csm_kernel.database import Connection
from csm_kernel.handlers import HandlerTable
from csm_kernel.http import ErrorBody, error_responses

RENAMED = OrganisationRenamed(organisation_id="LEE1", old_name="A", new_name="B")


def envelope_of(payload: OrganisationRenamed) -> Any:
    class Envelope:
        type = payload.EVENT_TYPE
        version = payload.VERSION

    return Envelope()


async def test_handlers_run_in_order_with_their_own_payload_class() -> None:
    seen: list[str] = []
    first, second = HandlerTable(), HandlerTable()

    @first.on(OrganisationRenamed)
    async def note(conn: Connection, envelope: EventEnvelope, event: OrganisationRenamed) -> None:
        seen.append(f"first {event.new_name}")

    @second.on(OrganisationRenamed)
    async def again(conn: Connection, envelope: EventEnvelope, event: OrganisationRenamed) -> None:
        seen.append(f"second {event.old_name}")

    handlers = HandlerTable.combine(first, second).handlers()
    assert list(handlers) == ["registration.OrganisationRenamed"]
    await handlers["registration.OrganisationRenamed"](None, envelope_of(RENAMED), RENAMED)  # type: ignore[arg-type]
    assert seen == ["first B", "second A"]
    assert OrganisationRenamed in first and PartnershipAreasChanged not in first


async def test_a_payload_of_another_class_is_rejected_not_misread() -> None:
    table = HandlerTable()

    @table.on(PartnershipAreasChanged)
    async def changed(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
        raise AssertionError("must not run")

    handler = table.handlers()["registration.PartnershipAreasChanged"]
    with pytest.raises(RejectedMessage, match="PartnershipAreasChanged v1"):
        await handler(None, envelope_of(RENAMED), RENAMED)  # type: ignore[arg-type]


def test_one_type_cannot_be_handled_as_two_classes() -> None:
    class Renamed2(OrganisationRenamed):
        EVENT_TYPE = "registration.OrganisationRenamed"
        VERSION = 2

    table = HandlerTable()
    table.add(OrganisationRenamed, lambda c, e, p: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="handled as both"):
        table.add(Renamed2, lambda c, e, p: None)  # type: ignore[arg-type,return-value]


def test_error_responses_document_the_error_body_in_openapi() -> None:
    app = FastAPI()

    @app.get("/thing", responses=error_responses(401, 404))
    async def thing() -> dict[str, str]:
        return {}

    doc = app.openapi()
    answers = doc["paths"]["/thing"]["get"]["responses"]
    assert set(answers) == {"200", "401", "404"}
    assert answers["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "details" in doc["components"]["schemas"]["ErrorBody"]["properties"]
    assert ErrorBody(error="x").model_dump() == {"error": "x", "details": []}
