"""Topic names and which events go where."""

from __future__ import annotations

import pytest

from csm_contracts.registry import REGISTRY
from csm_contracts.topics import Topics


def test_each_event_goes_to_its_source_topic() -> None:
    assert Topics.for_event("registration.OrganisationRegistered") == [Topics.REGISTRATION]
    assert Topics.for_event("questionnaire.ResponseSubmitted") == [Topics.QUESTIONNAIRE]


def test_sign_offs_also_go_to_the_public_topic() -> None:
    assert Topics.for_event("questionnaire.CycleSignedOff") == [
        Topics.QUESTIONNAIRE,
        Topics.PUBLIC_SIGNOFFS,
    ]


def test_a_withdrawn_sign_off_goes_to_the_public_topic_too() -> None:
    # A regulator who has the sign-off must learn that it no longer stands (a reopening).
    assert Topics.for_event("questionnaire.SignOffWithdrawn") == [
        Topics.QUESTIONNAIRE,
        Topics.PUBLIC_SIGNOFFS,
    ]


def test_only_sign_offs_and_their_withdrawals_are_public() -> None:
    public = sorted(
        cls.EVENT_TYPE
        for cls in REGISTRY
        if Topics.PUBLIC_SIGNOFFS in Topics.for_event(cls.EVENT_TYPE)
    )
    assert public == ["questionnaire.CycleSignedOff", "questionnaire.SignOffWithdrawn"]
    assert not any(
        Topics.PUBLIC_SIGNOFFS in Topics.for_event(t)
        for t in ("questionnaire.ReturnReopened", "questionnaire.ResponseSubmitted")
    )


def test_every_registered_event_has_a_topic() -> None:
    for cls in REGISTRY:
        assert Topics.for_source(cls.SOURCE) in Topics.event_topics()


def test_an_unknown_source_has_no_topic() -> None:
    with pytest.raises(KeyError):
        Topics.for_source("billing")


def test_event_topics_are_distinct_and_dead_letter_topics_are_apart() -> None:
    topics = Topics.event_topics()
    assert len(set(topics)) == len(topics) == 4
    assert Topics.dead_letter("reporting") == "csm.dlq.reporting"
    assert Topics.dead_letter("reporting") not in topics
