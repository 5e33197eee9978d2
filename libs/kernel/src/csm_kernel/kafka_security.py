"""How every Kafka client of a service authenticates: none on the embedded broker and under
compose; SCRAM-SHA-512 over TLS as its own Strimzi `KafkaUser` in Kubernetes
(`deploy/k8s/kafka-users.yaml`), whose ACLs allow exactly the topics and groups the service uses.

Read from the environment when a client is made (clients are made rarely: at start, after a
broker outage), so every client the kernel makes (the relay's producer, the consumers, the
watchdog's probes, the topic admin, the operator's commands) gets the same credentials without
each call site passing them on:

| variable | meaning |
|---|---|
| `CSM_KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` |
| `CSM_KAFKA_SASL_MECHANISM` | `SCRAM-SHA-512` (default), `SCRAM-SHA-256` or `PLAIN` |
| `CSM_KAFKA_USERNAME`, `CSM_KAFKA_PASSWORD` | the service's Kafka user |
| `CSM_KAFKA_CA_FILE` | the cluster CA certificate (PEM) to trust, for `SSL`/`SASL_SSL` |
"""

from __future__ import annotations

import os
from typing import Any

from aiokafka.helpers import create_ssl_context


def client_options() -> dict[str, Any]:
    """Keyword arguments for an aiokafka client (producer, consumer, admin)."""
    protocol = os.environ.get("CSM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=os.environ.get("CSM_KAFKA_CA_FILE"))
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = os.environ.get("CSM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        options["sasl_plain_username"] = os.environ["CSM_KAFKA_USERNAME"]
        options["sasl_plain_password"] = os.environ["CSM_KAFKA_PASSWORD"]
    return options


def broker_security() -> Any:
    """The same, as a FastStream `security=` object (None for PLAINTEXT)."""
    from faststream.security import (
        BaseSecurity,
        SASLPlaintext,
        SASLScram256,
        SASLScram512,
    )

    options = client_options()
    if not options:
        return None
    ssl_context = options.get("ssl_context")
    if "sasl_mechanism" not in options:
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[
        options["sasl_mechanism"]
    ]
    return kind(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=ssl_context,
        use_ssl=ssl_context is not None,
    )
