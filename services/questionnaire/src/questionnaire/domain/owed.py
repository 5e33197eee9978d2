"""Which questionnaires an organisation owes in a cycle (the mapping's rules, pure).

- every mapped service in the cycle: the service questionnaire, to the provider that maps it
  (in the service's group, so its group owner can answer it);
- every local authority: the CAMHS partnership questionnaire for its partnership area (the
  area bears the LA's code) and the Children's Trust arrangements questionnaire;
- every PCT that commissions (a whole PCT, or the commissioning part of a split one): the
  commissioning self-assessment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from csm_contracts.events.responses import QuestionnaireIssued, SubjectKind

from .definition import Definition, DefinitionKind
from .questionnaire import questionnaire_id


@dataclass(frozen=True)
class KnownOrganisation:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class KnownService:
    service_id: str
    cycle: str
    organisation_id: str
    name: str
    group_id: str | None = None
    #: For a service carried forward: its record in the cycle it was carried from.
    previous_service_id: str | None = None
    previous_cycle: str | None = None


@dataclass(frozen=True)
class Owed:
    """One questionnaire an organisation owes."""

    organisation_id: str
    kind: DefinitionKind
    subject_kind: SubjectKind
    subject_id: str
    title: str
    group_id: str | None = None


COMMISSIONING_PCTS = frozenset({"pct", "pct-commissioning"})


def owed_by_organisation(org: KnownOrganisation) -> list[Owed]:
    """The organisation-level questionnaires an organisation owes (services aside)."""
    if org.kind == "local-authority":
        return [
            Owed(
                org.code,
                DefinitionKind.CAMHS_PARTNERSHIP,
                SubjectKind.AREA,
                org.code,
                f"CAMHS partnership: {org.name}",
            ),
            Owed(
                org.code,
                DefinitionKind.CHILDRENS_TRUST,
                SubjectKind.ORGANISATION,
                org.code,
                f"Children's Trust arrangements: {org.name}",
            ),
        ]
    if org.kind in COMMISSIONING_PCTS:
        return [
            Owed(
                org.code,
                DefinitionKind.SELF_ASSESSMENT,
                SubjectKind.ORGANISATION,
                org.code,
                f"Commissioning self-assessment: {org.name}",
            ),
        ]
    return []


def owed_for_service(service: KnownService) -> Owed:
    return Owed(
        service.organisation_id,
        DefinitionKind.SERVICE,
        SubjectKind.SERVICE,
        service.service_id,
        f"Service: {service.name}",
        service.group_id,
    )


def issue_events(
    cycle: str, owed: Iterable[Owed], latest: Callable[[DefinitionKind], Definition]
) -> dict[str, QuestionnaireIssued]:
    """What issuing `owed` records, by questionnaire id (the latest definition of each kind).

    Each id (and so its stream) is derived from what the questionnaire is about, so issuing
    twice issues once: whoever appends decides which of these are new."""
    events: dict[str, QuestionnaireIssued] = {}
    for item in owed:
        definition = latest(item.kind)
        qid = questionnaire_id(cycle, item.organisation_id, definition.id, item.subject_id)
        events[qid] = QuestionnaireIssued(
            organisation_id=item.organisation_id,
            cycle=cycle,
            questionnaire_id=qid,
            definition=definition.ref,
            title=item.title,
            subject_kind=item.subject_kind,
            subject_id=item.subject_id,
            group_id=item.group_id,
        )
    return events
