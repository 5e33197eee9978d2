"""The AsyncAPI 3.0 document of every CSM topic, generated from the contract with FastStream.

A FastStream `KafkaBroker` (never connected) declares one publisher per event topic, whose
schema is the union of the payload models published there. FastStream turns that into channels,
send operations and the payload schemas under `components/schemas`; this module then gives each
event its own message (named after its type and version) with the CloudEvents headers, the
Kafka key and the correlation id, since FastStream knows one anonymous message per publisher.

`python -m csm_contracts.asyncapi` rewrites `contracts/asyncapi.json`; with `--check` it only
says whether the committed file is stale (exit status 1 if it is). Needs the `asyncapi` extra
(`faststream[kafka]`).
"""

from __future__ import annotations

import functools
import inspect
import json
import operator
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from . import events  # noqa: F401  (registers every payload)
from .cloudevents import CONTENT_TYPE, HEADERS, SPEC_VERSION
from .control import RepublishRequest
from .registry import REGISTRY, EventPayload
from .topics import Topics

ASYNCAPI_PATH = Path(__file__).resolve().parents[2] / "asyncapi.json"
"""Where the generated document is committed: `contracts/asyncapi.json`."""

SCHEMA_VERSION = "3.0.0"
"""The AsyncAPI version of the document."""

KAFKA_BINDING_VERSION = "0.4.0"
HEADERS_SCHEMA = "CloudEventHeaders"
SIGNATURE_SCHEMA = "SignatureHeaders"
#: The channel whose messages are signed (`ce_signature`) and its messages' component suffix.
SIGNED_CHANNEL = "publicSignoffs"
SIGNED_SUFFIX = ".signed"
SERVER = "kafka:9092"
SCRAM_SCHEME = "scramSha512"


@dataclass(frozen=True)
class Server:
    """One place the topics are served from, as an AsyncAPI server."""

    id: str
    host: str
    protocol: str
    description: str
    security: tuple[str, ...] = ()
    #: Where the keys that sign the public topic are published there (a JWK Set).
    jwks_url: str = ""


SERVERS: tuple[Server, ...] = (
    Server(
        "compose",
        SERVER,
        "kafka",
        "Apache Kafka under docker-compose: `kafka:9092` inside the compose network (what "
        "the services' `CSM_KAFKA_BOOTSTRAP` says there), `localhost:29092` from the host. "
        "PLAINTEXT, no authentication.",
        jwks_url="http://localhost:8002/.well-known/jwks.json",
    ),
    Server(
        "embedded",
        "127.0.0.1:19092",
        "kafka",
        "The embedded broker `make run` starts on this machine (the default "
        "`CSM_KAFKA_BOOTSTRAP`). PLAINTEXT, no authentication. Recent Kafka clients read it "
        "(the confluent-kafka wheel's librdkafka does); librdkafka 2.0 (Debian's kcat 1.7) "
        "cannot: see docs/regulators.md.",
        jwks_url="http://127.0.0.1:8002/.well-known/jwks.json",
    ),
    Server(
        "kubernetes",
        "csm-kafka-kafka-bootstrap:9093",
        "kafka-secure",
        "Apache Kafka on Kubernetes (Strimzi, `deploy/k8s/kafka.yaml`): the bootstrap "
        "service's TLS listener. Clients use SASL_SSL and log in with SCRAM-SHA-512 as their "
        "own KafkaUser (`deploy/k8s/kafka-users.yaml`), whose ACLs say what they may read: a "
        "regulator, `csm.public.signoffs` only, in consumer groups named `regulator*`.",
        (SCRAM_SCHEME,),
        jwks_url="https://csm.example.org/.well-known/jwks.json",
    ),
)
"""Every server, in the document's order: the compose, embedded and Kubernetes brokers."""

SECURITY_SCHEMES: dict[str, Any] = {
    SCRAM_SCHEME: {
        "type": "scramSha512",
        "description": "SASL/SCRAM-SHA-512 over TLS (`security.protocol=SASL_SSL`, "
        "`sasl.mechanism=SCRAM-SHA-512`) with a KafkaUser's name and password.",
    }
}


@dataclass(frozen=True)
class Channel:
    """One event topic as an AsyncAPI channel."""

    id: str
    topic: str
    publisher: str
    description: str


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "registration",
        Topics.REGISTRATION,
        "registration",
        "Organisations joining the mapping. Published by the registration service.",
    ),
    Channel(
        "questionnaire",
        Topics.QUESTIONNAIRE,
        "questionnaire",
        "Cycles and their timetables, questionnaires delegated, answered and submitted, and "
        "returns extended, reopened, signed off and their sign-offs withdrawn. Published by "
        "the questionnaire service.",
    ),
    Channel(
        "notification",
        Topics.NOTIFICATION,
        "notification",
        "What became of the emails the notification service sends: each one sent "
        "(`NotificationSent`) or given up on (`NotificationFailed`). Published by the "
        "notification service.",
    ),
    Channel(
        "publicSignoffs",
        Topics.PUBLIC_SIGNOFFS,
        "questionnaire",
        "The public topic regulators subscribe to: every return's sign-off "
        "(`CycleSignedOff`) and every withdrawal of one (`SignOffWithdrawn`), and nothing "
        "else. When the national team reopens a signed-off return, `SignOffWithdrawn` says "
        "which sign-off (its `signed_off_at`, and its event id) no longer stands, why and who "
        "reopened it; the organisation's next sign-off names the one it supersedes "
        "(`supersedes`: that same `signed_off_at`). A return's events keep their order (the "
        "key is the organisation id). Each event is also on the questionnaire topic, with "
        "the same event id. Delivery is at least once: de-duplicate by `ce_id`. Every "
        "message is signed (`ce_signature`, the `SignatureHeaders` schema): verify it "
        "against the JWK Set published for the server you read from: "
        + "; ".join(f"{server.id}: {server.jwks_url}" for server in SERVERS)
        + ". docs/regulators.md has a verification recipe.",
    ),
)
"""Every event topic, in the document's order; `Topics.event_topics()` lists the same topics."""


def message_id(cls: type[EventPayload]) -> str:
    """The id of an event version's message, e.g. `registration.OrganisationRegistered.v1`."""
    return f"{cls.EVENT_TYPE}.v{cls.VERSION}"


def events_by_topic() -> dict[str, list[type[EventPayload]]]:
    """Topic -> the payload models published to it, by type and version."""
    out: dict[str, list[type[EventPayload]]] = {topic: [] for topic in Topics.event_topics()}
    for cls in REGISTRY:
        if cls.EVENT_TYPE.split(".", 1)[0] != cls.SOURCE:
            raise ValueError(f"{cls.__name__}: {cls.EVENT_TYPE} is not named after {cls.SOURCE}")
        for topic in Topics.for_event(cls.EVENT_TYPE):
            out[topic].append(cls)
    return out


DESCRIPTION = f"""\
Every event CSM services publish on Kafka. Generated from `csm_contracts` by
`python -m csm_contracts.asyncapi`; do not edit by hand.

## CloudEvents binding

Messages follow the CloudEvents {SPEC_VERSION} Kafka protocol binding in **binary content mode**:

- the **value** is the event payload as UTF-8 JSON (`content-type: {CONTENT_TYPE}`), valid
  against the committed JSON Schema the `ce_dataschema` header names
  (`contracts/schemas/<type>.v<version>.json`);
- every envelope field travels as a `ce_*` header (the `{HEADERS_SCHEMA}` schema), beside
  the W3C `traceparent` header when the publish happened inside a trace;
- the **key** is the organisation id (`ce_partitionkey` carries it too), so one
  organisation's events stay in order within a topic.

Delivery is at least once, in each stream's order: consumers deduplicate by `ce_id`.
`ce_hash` and `ce_prevhash` hash-chain each stream (`ce_subject`); a reader can verify it.

## Signatures

Every message on `{Topics.PUBLIC_SIGNOFFS}` carries `ce_signature`, a detached compact JWS
(EdDSA) over the exact message value; each server's description names the JWK Set that holds
its keys (docs/regulators.md). Messages on the other topics are not signed.

## Dead letters

A consumer group that cannot decode a message, does not know its type or version, finds its
payload invalid, or keeps failing to handle it (bounded retries with backoff) publishes it to
its own dead-letter topic, `{Topics.dead_letter("<consumer-group>")}`
(`Topics.dead_letter(group)`), and carries on. The dead letter keeps the original key, value
and headers and adds `dlq_consumer`, `dlq_reason` (`undecodable`, `unknown-event-type`,
`invalid-payload`, `handler-failed` or `rejected`), `dlq_error`, `dlq_attempts`,
`dlq_source_topic`, `dlq_source_partition` and `dlq_source_offset`. The consumer also keeps
each dead letter in its own database, so one is never lost with the topic.

## Evolution

A published schema only grows: new optional fields, enum values and events may appear at any
time, so a reader must accept them. Anything else is a new version of the event (a new
message here, `ce_eventversion` raised) with an upcaster from the old one.

Event topics keep everything: no deletion by age.
"""


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The Kafka headers of every CSM event: CloudEvents attributes and "
        "extensions carrying the envelope, and the W3C trace context.",
        "properties": {
            h.name: {
                "type": "string",
                "description": h.description
                if h.source.startswith("(")
                else f"{h.description} Envelope field: {h.source}.",
            }
            for h in HEADERS
        },
        "required": [h.name for h in HEADERS if h.required],
    }


def _signature_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The headers every message on the public topic has besides the "
        "CloudEvents ones: its signature, and `ce_id`, the key to de-duplicate by.",
        "properties": {
            "ce_signature": {
                "type": "string",
                "pattern": r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$",
                "description": "A CloudEvents extension attribute: a compact JWS with a "
                "detached payload (RFC 7515 appendix F), `<protected header>..<signature>`, "
                "EdDSA (Ed25519) over the exact bytes of the message value. The header names "
                "the key (`kid`, its RFC 7638 thumbprint) in the JWK Set the server's "
                "description gives (`/.well-known/jwks.json` on the questionnaire service). "
                "Verify by putting base64url(value), unpadded, between the dots. Keys rotate; "
                "earlier keys stay published while messages they signed are kept.",
            },
            "ce_id": {
                "type": "string",
                "format": "uuid",
                "description": "The event's id, the same on every copy (delivery is at least "
                "once, and a republished copy is signed afresh): de-duplicate by it.",
            },
        },
        "required": ["ce_signature", "ce_id"],
    }


def _signed(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the public topic carries it: signed."""
    headers = message["headers"]["allOf"]
    return {
        **message,
        "description": f"{message['description']}\n\nSigned: `ce_signature` (`SignatureHeaders`).",
        "headers": {"allOf": [*headers, {"$ref": f"#/components/schemas/{SIGNATURE_SCHEMA}"}]},
    }


def _message(cls: type[EventPayload], payload_ref: str) -> dict[str, Any]:
    service = cls.EVENT_TYPE.split(".", 1)[0]
    summary, _, rest = (cls.__doc__ or cls.EVENT_TYPE).strip().partition("\n")
    details = inspect.cleandoc(rest)
    key = "Kafka key: the organisation id (`organisation_id` in the payload)."
    return {
        "name": cls.EVENT_TYPE,
        "title": f"{cls.__name__} v{cls.VERSION}",
        "summary": summary,
        "description": f"{details}\n\n{key}" if details else key,
        "contentType": CONTENT_TYPE,
        "correlationId": {
            "description": "Ties together everything one request caused.",
            "location": "$message.header#/ce_correlationid",
        },
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"const": cls.EVENT_TYPE},
                        "ce_source": {"const": f"/csm/{service}"},
                        "ce_eventversion": {"const": str(cls.VERSION)},
                        "ce_dataschema": {
                            "const": f"urn:csm:schema:{cls.EVENT_TYPE}:v{cls.VERSION}"
                        },
                    },
                },
            ]
        },
        "payload": {"$ref": payload_ref},
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "key": {
                    "type": "string",
                    "description": "The organisation id, so one organisation's events stay "
                    "in order.",
                },
            }
        },
    }


def build_broker() -> KafkaBroker:
    """A broker, never connected, with a documented publisher per event topic."""
    broker = KafkaBroker(
        SERVER,
        description="The Kafka cluster (`CSM_KAFKA_BOOTSTRAP`; `kafka:9092` in docker-compose).",
    )
    by_topic = events_by_topic()
    for channel in CHANNELS:
        models = by_topic[channel.topic]
        schema: Any = functools.reduce(operator.or_, models) if models else None
        broker.publisher(
            channel.topic,
            title=channel.id,
            description=channel.description,
            schema=schema,
        )
    broker.publisher(
        Topics.REPUBLISH_REQUESTS,
        title=REPUBLISH_CHANNEL,
        description=REPUBLISH_DESCRIPTION,
        schema=RepublishRequest,
    )
    return broker


REPUBLISH_DESCRIPTION = (
    "Not events: requests between the services' infrastructure. A consumer that finds store "
    "positions of a service missing (a position below others it received, still missing "
    "after the delivery delay: `ce_position` and `ce_previousposition` tell a loss from a "
    "hole in the store) asks that service to publish the ranges again. Every process of the "
    "service listens; the one whose relay leads publishes them (up to its checkpoint) to the "
    "service's event topic. Key: the service asked. Consumers skip what they already have, "
    "so a request answered twice is harmless, and one that is lost is asked again after the "
    "next delay."
)
REPUBLISH_CHANNEL = "republish-requests"
REPUBLISH_MESSAGE = "csm.control.RepublishRequest"


def _contracts_version() -> str:
    try:
        return version("csm-contracts")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0.0.0"


def generate() -> dict[str, Any]:
    """The AsyncAPI document as JSON-ready data."""
    if {c.topic for c in CHANNELS} != set(Topics.event_topics()):
        raise ValueError("CHANNELS and Topics.event_topics() disagree")
    spec = AsyncAPI(
        build_broker(),
        title="CSM events",
        version=_contracts_version(),
        description=DESCRIPTION,
        schema_version=SCHEMA_VERSION,
    ).to_specification()
    doc: dict[str, Any] = spec.to_jsonable()
    components = doc.setdefault("components", {})
    schemas: dict[str, Any] = {
        name: schema for name, schema in components.get("schemas", {}).items() if ":" not in name
    }
    schemas[HEADERS_SCHEMA] = _headers_schema()
    schemas[SIGNATURE_SCHEMA] = _signature_schema()
    messages: dict[str, Any] = {}

    by_topic = events_by_topic()
    for channel in CHANNELS:
        models = by_topic[channel.topic]
        channel_messages: dict[str, Any] = {}
        for cls in models:
            title = cls.model_json_schema()["title"]
            if title not in schemas:
                raise ValueError(
                    f"{cls.__name__}: no components/schemas/{title} (a name used twice?)"
                )
            if schemas[title] != _faststream_schema(cls):
                raise ValueError(f"two payload models share the schema name {title}")
            message = _message(cls, f"#/components/schemas/{title}")
            messages[message_id(cls)] = message
            component = message_id(cls)
            if channel.id == SIGNED_CHANNEL:
                component += SIGNED_SUFFIX
                messages[component] = _signed(message)
            channel_messages[message_id(cls)] = {"$ref": f"#/components/messages/{component}"}
        doc["channels"][channel.id]["messages"] = channel_messages
        operation = doc["operations"][channel.id]
        operation["title"] = f"The {channel.publisher} service publishes to {channel.topic}"
        operation["messages"] = [
            {"$ref": f"#/channels/{channel.id}/messages/{mid}"} for mid in sorted(channel_messages)
        ]
    messages[REPUBLISH_MESSAGE] = {
        "name": REPUBLISH_MESSAGE,
        "title": "RepublishRequest",
        "summary": "Publish these store positions of yours again.",
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": "#/components/schemas/RepublishRequest"},
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "key": {"type": "string", "description": "The service asked (`source`)."},
            }
        },
    }
    control = f"#/components/messages/{REPUBLISH_MESSAGE}"
    doc["channels"][REPUBLISH_CHANNEL]["messages"] = {REPUBLISH_MESSAGE: {"$ref": control}}
    doc["operations"][REPUBLISH_CHANNEL]["title"] = (
        f"Consumers ask producers on {Topics.REPUBLISH_REQUESTS}"
    )
    doc["operations"][REPUBLISH_CHANNEL]["messages"] = [
        {"$ref": f"#/channels/{REPUBLISH_CHANNEL}/messages/{REPUBLISH_MESSAGE}"}
    ]
    components["schemas"] = schemas
    components["messages"] = messages
    _servers(doc)
    return doc


def _servers(doc: dict[str, Any]) -> None:
    """Every server in `SERVERS`, each channel on all of them (FastStream knows one broker)."""
    doc["servers"] = {
        server.id: {
            "host": server.host,
            "protocol": server.protocol,
            "description": server.description
            + (
                f" The keys that sign the public topic: {server.jwks_url}"
                if server.jwks_url
                else ""
            ),
            **(
                {
                    "security": [
                        {"$ref": f"#/components/securitySchemes/{s}"} for s in server.security
                    ]
                }
                if server.security
                else {}
            ),
        }
        for server in SERVERS
    }
    for channel in doc["channels"].values():
        channel["servers"] = [{"$ref": f"#/servers/{server.id}"} for server in SERVERS]
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES


def _faststream_schema(cls: type[EventPayload]) -> dict[str, Any]:
    """A model's JSON Schema with its `$defs` references pointed at `components/schemas`."""
    schema = cls.model_json_schema()
    schema.pop("$defs", None)
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    result: dict[str, Any] = json.loads(text)
    return result


def render(doc: dict[str, Any] | None = None) -> str:
    """The document as committed: indented JSON with sorted keys and a final newline."""
    return json.dumps(generate() if doc is None else doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write `contracts/asyncapi.json`, or with `--check` report whether it is stale."""
    text = render()
    if "--check" in argv:
        committed = ASYNCAPI_PATH.read_text() if ASYNCAPI_PATH.exists() else ""
        if committed != text:
            print(
                f"{ASYNCAPI_PATH} is stale: run `python -m csm_contracts.asyncapi`",
                file=sys.stderr,
            )
            return 1
        return 0
    ASYNCAPI_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
