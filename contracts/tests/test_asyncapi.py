"""The committed AsyncAPI document is what the contract generates, and it documents everything."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from csm_contracts import asyncapi
from csm_contracts.cloudevents import HEADERS, encode
from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import REGISTRY
from csm_contracts.topics import Topics

REGENERATE = "run `python -m csm_contracts.asyncapi` and commit contracts/asyncapi.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.generate()


@pytest.fixture(scope="module")
def committed() -> str:
    return asyncapi.ASYNCAPI_PATH.read_text()


def test_the_committed_document_is_freshly_generated(committed: str) -> None:
    assert committed == asyncapi.render(), f"contracts/asyncapi.json is stale: {REGENERATE}"


def test_generation_is_deterministic(doc: dict[str, Any]) -> None:
    assert asyncapi.render() == asyncapi.render(doc) == asyncapi.render()


def test_check_passes_on_the_committed_file() -> None:
    assert asyncapi.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(asyncapi, "ASYNCAPI_PATH", stale)
    assert asyncapi.main(["--check"]) == 1
    assert "python -m csm_contracts.asyncapi" in capsys.readouterr().err
    assert stale.read_text() == "{}\n"  # --check never writes


def test_it_is_an_asyncapi_3_document(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["defaultContentType"] == "application/json"
    assert doc["info"]["title"] == "CSM events"


def test_every_topic_and_event_type_appears_in_the_committed_file(committed: str) -> None:
    for topic in Topics.event_topics():
        assert f'"{topic}"' in committed, topic
    for cls in REGISTRY:
        assert cls.EVENT_TYPE in committed, cls.EVENT_TYPE
    assert Topics.dead_letter("<consumer-group>") in committed


def test_each_topic_is_a_channel_with_the_events_published_there(doc: dict[str, Any]) -> None:
    channels = {c["address"]: c for c in doc["channels"].values()}
    assert set(channels) == {*Topics.event_topics(), Topics.REPUBLISH_REQUESTS}
    expected: dict[str, set[str]] = {topic: set() for topic in Topics.event_topics()}
    expected[Topics.REPUBLISH_REQUESTS] = {"csm.control.RepublishRequest"}
    for cls in REGISTRY:
        for topic in Topics.for_event(cls.EVENT_TYPE):
            expected[topic].add(f"{cls.EVENT_TYPE}.v{cls.VERSION}")
    for topic, channel in channels.items():
        assert set(channel["messages"]) == expected[topic], topic
        assert channel["bindings"]["kafka"]["topic"] == topic


def test_sign_offs_and_their_withdrawals_are_on_the_questionnaire_and_the_public_topic(
    doc: dict[str, Any],
) -> None:
    by_address = {c["address"]: c for c in doc["channels"].values()}
    public = {"questionnaire.CycleSignedOff.v1", "questionnaire.SignOffWithdrawn.v1"}
    assert set(by_address[Topics.PUBLIC_SIGNOFFS]["messages"]) == public
    assert public <= set(by_address[Topics.QUESTIONNAIRE]["messages"])
    description = by_address[Topics.PUBLIC_SIGNOFFS]["description"]
    assert "SignOffWithdrawn" in description and "supersedes" in description
    withdrawn = doc["components"]["messages"]["questionnaire.SignOffWithdrawn.v1"]
    payload = resolve(doc, withdrawn["payload"]["$ref"])
    assert {"reason", "withdrawn_by", "withdrawn_at", "signed_off_at"} <= set(payload["required"])
    assert "sign_off_event_id" in payload["properties"]


def test_each_channel_describes_what_it_carries(doc: dict[str, Any]) -> None:
    by_address = {c["address"]: c for c in doc["channels"].values()}
    notification = by_address[Topics.NOTIFICATION]
    assert "none is published" not in notification["description"]
    for message in notification["messages"]:
        assert message.split(".")[1] in notification["description"], message
    assert set(notification["messages"]) >= {"notification.NotificationSent.v1"}


def test_the_servers_are_every_broker_a_client_meets(doc: dict[str, Any]) -> None:
    servers = doc["servers"]
    assert {name: (s["host"], s["protocol"]) for name, s in servers.items()} == {
        "compose": ("kafka:9092", "kafka"),
        "embedded": ("127.0.0.1:19092", "kafka"),
        "kubernetes": ("csm-kafka-kafka-bootstrap:9093", "kafka-secure"),
    }
    assert all(s["description"] for s in servers.values())
    # The embedded broker is where a default `CSM_KAFKA_BOOTSTRAP` points (the kernel's
    # settings; contracts do not import the kernel).
    root = Path(__file__).resolve().parents[2]
    settings = (root / "libs/kernel/src/csm_kernel/settings.py").read_text()
    assert f'kafka_bootstrap: str = "{servers["embedded"]["host"]}"' in settings
    # Kubernetes: SASL_SSL with SCRAM-SHA-512, the listener deploy/k8s/kafka.yaml declares.
    [scheme] = [resolve(doc, r["$ref"]) for r in servers["kubernetes"]["security"]]
    assert scheme["type"] == "scramSha512"
    k8s = (root / "deploy/k8s/kafka.yaml").read_text()
    assert re.search(r"port: 9093\n\s+type: internal\n\s+tls: true", k8s)
    assert re.search(r"authentication:\n\s+type: scram-sha-512", k8s)
    assert "security" not in servers["compose"] and "security" not in servers["embedded"]
    for channel in doc["channels"].values():
        assert {s["$ref"] for s in channel["servers"]} == {f"#/servers/{n}" for n in servers}


def test_each_operation_sends_the_messages_of_its_channel(doc: dict[str, Any]) -> None:
    assert set(doc["operations"]) == set(doc["channels"])
    for channel_id, operation in doc["operations"].items():
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{channel_id}"}
        assert [m["$ref"] for m in operation["messages"]] == [
            f"#/channels/{channel_id}/messages/{mid}"
            for mid in sorted(doc["channels"][channel_id]["messages"])
        ]


def test_each_message_documents_the_binding(doc: dict[str, Any]) -> None:
    for cls in REGISTRY:
        message = doc["components"]["messages"][f"{cls.EVENT_TYPE}.v{cls.VERSION}"]
        assert message["name"] == cls.EVENT_TYPE
        assert message["contentType"] == "application/json"
        assert message["correlationId"]["location"] == "$message.header#/ce_correlationid"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert "organisation id" in message["bindings"]["kafka"]["key"]["description"]
        base, specific = message["headers"]["allOf"]
        assert base == {"$ref": "#/components/schemas/CloudEventHeaders"}
        assert specific["properties"]["ce_type"] == {"const": cls.EVENT_TYPE}
        assert specific["properties"]["ce_eventversion"] == {"const": str(cls.VERSION)}
        payload = resolve(doc, message["payload"]["$ref"])
        assert set(payload["properties"]) == set(cls.model_fields)


def test_the_header_schema_matches_what_encode_writes(doc: dict[str, Any]) -> None:
    headers_schema = doc["components"]["schemas"]["CloudEventHeaders"]
    assert set(headers_schema["properties"]) == {h.name for h in HEADERS}
    for name in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"):
        assert name in headers_schema["required"]
    assert "traceparent" in headers_schema["properties"]

    envelope = EventEnvelope(
        event_id=UUID("6f1c1c52-3f43-4a3e-9d0e-7d8a6f1b2c3d"),
        type="registration.OrganisationRegistered",
        version=1,
        occurred_at=datetime(2009, 10, 1, 9, 30, tzinfo=UTC),
        stream_id="organisation-5NT",
        stream_version=1,
        key="5NT",
        correlation_id="c",
        causation_id="e",
        actor="a",
        data={},
        prev_hash="0" * 64,
        hash="1" * 64,
        position=3,
    )
    _, _, minimal = encode(envelope.model_copy(update={"causation_id": None, "position": None}))
    _, _, full = encode(
        envelope, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", previous_position=2
    )
    assert {k for k, _ in full} == set(headers_schema["properties"])
    assert {k for k, _ in minimal} == set(headers_schema["required"])


def test_the_description_documents_the_binding_and_dead_letters(doc: dict[str, Any]) -> None:
    description = doc["info"]["description"]
    for words in ("ce_*", "traceparent", "organisation id", "csm.dlq.<consumer-group>", "dlq_"):
        assert words in description, words


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        resolve(doc, ref)  # raises KeyError if it dangles


def test_component_names_are_valid_asyncapi_keys(doc: dict[str, Any]) -> None:
    for kind in ("schemas", "messages"):
        for name in doc["components"][kind]:
            assert re.fullmatch(r"[\w.\-]+", name), f"components/{kind}/{name}"
    for name in [*doc["channels"], *doc["operations"]]:
        assert re.fullmatch(r"[A-Za-z0-9_\-]+", name), name


def test_the_document_is_json(committed: str) -> None:
    assert json.loads(committed)["asyncapi"] == "3.0.0"


def test_the_public_topic_s_messages_are_signed_and_say_where_the_keys_are(
    doc: dict[str, Any],
) -> None:
    by_address = {c["address"]: c for c in doc["channels"].values()}
    public = by_address[Topics.PUBLIC_SIGNOFFS]
    signature = doc["components"]["schemas"]["SignatureHeaders"]
    assert signature["required"] == ["ce_signature", "ce_id"]
    assert "detached" in signature["properties"]["ce_signature"]["description"]
    assert "de-duplicate" in signature["properties"]["ce_id"]["description"]
    for ref in public["messages"].values():
        message = resolve(doc, ref["$ref"])
        assert message["headers"]["allOf"][-1] == {"$ref": "#/components/schemas/SignatureHeaders"}
    # Only the public topic is signed.
    for channel in by_address[Topics.QUESTIONNAIRE]["messages"].values():
        assert "SignatureHeaders" not in json.dumps(resolve(doc, channel["$ref"]))
    for name, server in doc["servers"].items():
        url = re.search(r"https?://\S+/\.well-known/jwks\.json", server["description"])
        assert url and url.group(0) in public["description"], name
