"""Payload models: validation rules, the registry, and no secrets in any event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from csm_contracts.events import (
    CycleSignedOff,
    NI51AreaScore,
    OrganisationKind,
    OrganisationRegistered,
    QuestionnaireDelegated,
    Region,
    ResponseSubmitted,
)
from csm_contracts.events.accounts import (
    AccountActivated,
    AccountCreated,
    AccountDisabled,
    AccountLocked,
    MappingLeadNominated,
    PasswordReset,
    PasswordResetRequested,
    ServiceGroupDefined,
    ServiceGroupOwnerNamed,
    SetUpLinkReissued,
)
from csm_contracts.events.cycles import (
    CyclePhaseChanged,
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    ReturnReopened,
    SignOffWithdrawn,
)
from csm_contracts.events.directory import (
    ServiceCarriedForward,
    ServiceConfirmed,
    ServiceRegistered,
    ServiceRevised,
    ServiceWithdrawn,
)
from csm_contracts.events.notifications import NotificationFailed, NotificationSent
from csm_contracts.events.questionnaire import CycleOpened
from csm_contracts.events.registration import (
    OrganisationLinked,
    OrganisationRenamed,
    PartnershipAreasChanged,
)
from csm_contracts.events.responses import (
    AnswersSaved,
    AnswersSavedV2,
    DelegationAccepted,
    DelegationRevoked,
    QuestionnaireCancelled,
    QuestionnaireIssued,
    QuestionnaireLocked,
    QuestionnaireReturned,
    QuestionnaireSentBack,
    QuestionnaireUnlocked,
    SubmissionWithdrawn,
)
from csm_contracts.registry import (
    REGISTRY,
    EventPayload,
    EventRegistry,
    UnknownEventType,
    payload_class,
)

ALL_PAYLOADS = {CycleSignedOff, OrganisationRegistered, QuestionnaireDelegated, ResponseSubmitted}
# Organisation changes (issue 3, organisations).
ALL_PAYLOADS |= {OrganisationLinked, OrganisationRenamed, PartnershipAreasChanged}
# Directory of services and the cycle opening it reacts to (issue 3, directory).
ALL_PAYLOADS |= {
    ServiceRegistered,
    ServiceRevised,
    ServiceWithdrawn,
    ServiceConfirmed,
    ServiceCarriedForward,
    CycleOpened,
}
# Accounts, mapping leads and service groups (issue 3, accounts).
ALL_PAYLOADS |= {
    AccountCreated,
    AccountActivated,
    AccountLocked,
    AccountDisabled,
    MappingLeadNominated,
    ServiceGroupDefined,
    ServiceGroupOwnerNamed,
}
ALL_PAYLOADS |= {CycleScheduled, CycleTimetableChanged, CyclePhaseChanged, CycleOpened}
ALL_PAYLOADS |= {ExtensionGranted, ReturnReopened, QuestionnaireIssued, AnswersSaved}
ALL_PAYLOADS |= {DelegationRevoked, QuestionnaireReturned, DelegationAccepted}
ALL_PAYLOADS |= {QuestionnaireSentBack, SubmissionWithdrawn, QuestionnaireCancelled}
ALL_PAYLOADS |= {NotificationSent, NotificationFailed}
ALL_PAYLOADS |= {QuestionnaireLocked, QuestionnaireUnlocked}
# AnswersSaved v2 beside v1 (issue 23, a rolling upgrade).
ALL_PAYLOADS |= {AnswersSavedV2}
# A reopened return's sign-off withdrawn, for regulators (issue 21).
ALL_PAYLOADS |= {SignOffWithdrawn}
# A way back in: set-up links sent again, forgotten passwords (issue 18).
ALL_PAYLOADS |= {SetUpLinkReissued, PasswordResetRequested, PasswordReset}


def organisation(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organisation_id": "5NT",
        "code": "5NT",
        "name": "Manchester PCT",
        "kind": "pct",
        "region": "north-west",
    }
    return data | overrides


def area(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "area": "352",
        "learning_disabilities": 4,
        "urgent_24_hour_cover": 3,
        "age_16_17": 2,
        "early_intervention": 1,
        "score": 10,
    }
    return data | overrides


def sign_off(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organisation_id": "5NT",
        "cycle": "2009-10",
        "signed_off_at": datetime(2010, 3, 31, 12, tzinfo=UTC),
        "signed_off_by": "user-1",
        "questionnaires_submitted": 3,
        "ni51": [area()],
    }
    return data | overrides


# --- OrganisationRegistered -------------------------------------------------------------------


def test_organisation_registered_accepts_a_valid_organisation() -> None:
    event = OrganisationRegistered.model_validate(organisation())
    assert event.kind is OrganisationKind.PCT
    assert event.region is Region.NORTH_WEST
    assert event.partition_key == "5NT"


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("5nt", "lowercase"),
        ("ABCDEF", "too long"),
        ("AB", "too short"),
        ("123", "no letter"),
        ("5N-T", "punctuation"),
    ],
)
def test_organisation_registered_rejects_a_bad_code(code: str, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        OrganisationRegistered.model_validate(organisation(code=code))
    assert [e["loc"] for e in info.value.errors()] == [("code",)], why


def test_organisation_registered_rejects_an_unknown_region() -> None:
    with pytest.raises(ValidationError) as info:
        OrganisationRegistered.model_validate(organisation(region="wales"))
    [error] = info.value.errors()
    assert error["loc"] == ("region",)
    assert error["type"] == "enum"


def test_organisation_registered_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValidationError) as info:
        OrganisationRegistered.model_validate(organisation(kind="school"))
    assert {e["loc"] for e in info.value.errors()} == {("kind",)}


def test_a_reader_ignores_fields_added_by_a_newer_schema() -> None:
    """Tolerant reader: a field added later (an additive change) does not break old consumers,
    and is not carried into the model."""
    event = OrganisationRegistered.model_validate(organisation(added_in_v1_1="x"))
    assert "added_in_v1_1" not in event.model_dump()


def test_ni51_score_must_be_the_sum_of_the_four_answers() -> None:
    with pytest.raises(ValidationError, match="not the sum"):
        NI51AreaScore.model_validate(
            {
                "area": "00BR",
                "learning_disabilities": 4,
                "urgent_24_hour_cover": 4,
                "age_16_17": 4,
                "early_intervention": 4,
                "score": 15,
            }
        )


# --- CycleSignedOff ---------------------------------------------------------------------------


def test_cycle_signed_off_accepts_a_valid_sign_off() -> None:
    event = CycleSignedOff.model_validate(sign_off())
    assert event.ni51 == [NI51AreaScore.model_validate(area())]


@pytest.mark.parametrize("question", ["learning_disabilities", "urgent_24_hour_cover"])
@pytest.mark.parametrize("value", [0, 5, -1])
def test_cycle_signed_off_rejects_ni51_scores_outside_1_to_4(question: str, value: int) -> None:
    with pytest.raises(ValidationError) as info:
        CycleSignedOff.model_validate(sign_off(ni51=[area(**{question: value})]))
    [error] = info.value.errors()
    assert error["loc"] == ("ni51", 0, question)


@pytest.mark.parametrize("score", [3, 17])
def test_cycle_signed_off_rejects_an_area_total_outside_4_to_16(score: int) -> None:
    with pytest.raises(ValidationError) as info:
        CycleSignedOff.model_validate(sign_off(ni51=[area(score=score)]))
    [error] = info.value.errors()
    assert error["loc"] == ("ni51", 0, "score")


def test_cycle_signed_off_rejects_a_bad_cycle_and_a_naive_sign_off_time() -> None:
    with pytest.raises(ValidationError) as info:
        CycleSignedOff.model_validate(
            sign_off(cycle="2009", signed_off_at=datetime(2010, 3, 31, 12))
        )
    assert {e["loc"] for e in info.value.errors()} == {("cycle",), ("signed_off_at",)}


# --- the registry -----------------------------------------------------------------------------


def test_every_payload_is_registered() -> None:
    assert set(REGISTRY) == ALL_PAYLOADS


@pytest.mark.parametrize("cls", list(REGISTRY), ids=lambda c: c.EVENT_TYPE)
def test_the_registry_resolves_each_payload_by_type_and_version(cls: type[EventPayload]) -> None:
    assert REGISTRY.get(cls.EVENT_TYPE, cls.VERSION) is cls
    assert payload_class(cls.EVENT_TYPE, cls.VERSION) is cls
    assert REGISTRY.latest_version(cls.EVENT_TYPE) >= cls.VERSION
    assert re.fullmatch(r"[a-z]+\.[A-Z][A-Za-z]+", cls.EVENT_TYPE)
    assert cls.EVENT_TYPE.split(".", 1)[0] == cls.SOURCE


def test_payload_class_raises_for_an_unknown_type_or_version() -> None:
    with pytest.raises(UnknownEventType, match=r"no schema for registration\.Nope v1"):
        payload_class("registration.Nope", 1)
    with pytest.raises(UnknownEventType, match=r"registration\.OrganisationRegistered v99"):
        payload_class("registration.OrganisationRegistered", 99)
    with pytest.raises(UnknownEventType, match=r"no schema for registration\.Nope"):
        REGISTRY.latest_version("registration.Nope")


def test_a_type_and_version_cannot_be_registered_twice() -> None:
    registry = EventRegistry()
    registry.register(OrganisationRegistered)
    registry.register(OrganisationRegistered)  # the same class again is harmless

    class Impostor(EventPayload):
        EVENT_TYPE = "registration.OrganisationRegistered"
        SOURCE = "registration"

    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Impostor)


# --- no secrets -------------------------------------------------------------------------------

SECRET_WORDS = {"password", "passwd", "token", "secret", "link", "credential", "apikey"}


def secret_looking(name: str) -> bool:
    """A field name with a word (between underscores) that names a secret."""
    return any(word.rstrip("s") in SECRET_WORDS for word in name.lower().split("_"))


def field_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field name of a model and of the models nested in it, dotted."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(f"{prefix}{name}")
        annotation = info.annotation
        nested = [annotation, *getattr(annotation, "__args__", ())]
        for inner in nested:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names.extend(field_names(inner, f"{prefix}{name}."))
    return names


def test_the_secret_name_check_catches_what_it_should() -> None:
    assert secret_looking("password")
    assert secret_looking("setup_link")
    assert secret_looking("access_token")
    assert secret_looking("client_secrets")
    assert not secret_looking("linked_organisation_id")
    assert not secret_looking("delegate_email")


def test_field_names_include_nested_models() -> None:
    assert "ni51.score" in field_names(CycleSignedOff)


def test_no_payload_has_a_field_that_names_a_secret() -> None:
    offenders = [
        f"{cls.EVENT_TYPE}: {name}"
        for cls in REGISTRY
        for name in field_names(cls)
        if secret_looking(name.rsplit(".", 1)[-1])
    ]
    assert offenders == [], "events never carry secrets (DESIGN.md section 4)"


def test_an_event_type_is_its_source_and_class_name_unless_it_says_otherwise() -> None:
    from csm_contracts.registry import REGISTRY, EventRegistry, QuestionnaireEvent

    assert OrganisationRegistered.EVENT_TYPE == "registration.OrganisationRegistered"
    for cls in REGISTRY:
        if "EVENT_TYPE" not in cls.__dict__:
            assert f"{cls.SOURCE}.{cls.__name__}" == cls.EVENT_TYPE, cls

    class AnswersSavedV2(QuestionnaireEvent):
        EVENT_TYPE = "questionnaire.AnswersSaved"
        VERSION = 2

    assert AnswersSavedV2.EVENT_TYPE == "questionnaire.AnswersSaved"

    class Misnamed(QuestionnaireEvent):
        EVENT_TYPE = "registration.Misnamed"

    with pytest.raises(ValueError, match="not named after questionnaire"):
        EventRegistry().register(Misnamed)
