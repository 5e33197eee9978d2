"""The settings every service reads: the one public address for links, Kafka credentials."""

from __future__ import annotations

import pytest
from faststream.security import SASLScram512

from csm_kernel.kafka_security import broker_security, client_options
from csm_kernel.settings import ServiceSettings


def test_links_use_the_public_url_when_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSM_PUBLIC_URL", raising=False)
    monkeypatch.setenv("CSM_PORTAL_URL", "http://localhost:8000")
    assert ServiceSettings().portal_url == "http://localhost:8000"  # the older setting alone
    monkeypatch.setenv("CSM_PUBLIC_URL", "https://csm.example.org/")
    assert ServiceSettings().portal_url == "https://csm.example.org"


def test_kafka_clients_are_plain_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSM_KAFKA_SECURITY_PROTOCOL", raising=False)
    assert client_options() == {} and broker_security() is None


def test_kafka_clients_log_in_with_scram_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CSM_KAFKA_USERNAME", "csm-reporting")
    monkeypatch.setenv("CSM_KAFKA_PASSWORD", "s3cret")
    monkeypatch.delenv("CSM_KAFKA_CA_FILE", raising=False)
    options = client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "csm-reporting",
        "s3cret",
    )
    assert options["ssl_context"] is not None
    security = broker_security()
    assert isinstance(security, SASLScram512) and security.use_ssl
    monkeypatch.delenv("CSM_KAFKA_PASSWORD")
    with pytest.raises(KeyError):
        client_options()  # a user without a password is a deployment mistake, said at once
