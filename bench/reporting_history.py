"""A synthetic national history for the reporting benchmark: two mapping cycles of real contract
events, as the registration and questionnaire services would have published them.

At `scale` 1 (each count below is multiplied by the scale, at least a handful of each kind):

- **Organisations** (5,000): `tests/e2e/national_roster.py`'s roster (shared with the browser
  test's national data set): 150 local authorities (each its own partnership area, the LA's
  code), 300 PCTs (285 whole PCTs, 15 commissioning parts) each covering 1-3 LA areas of its
  region, up to 15 PCT provider arms each linked to its commissioning part, NHS trusts (acute,
  mental health, community, ambulance) covering 1-4 areas, and third-sector and private
  providers (one area each, mapped by a lead organisation) for the rest; regions spread as
  the LAs are.
  Each: `OrganisationRegistered`, an `AccountCreated` and `MappingLeadNominated` for its lead;
  1 % renamed, 1 % with their partnership areas changed.
- **Cycles**: 2008-09 and 2009-10, each `CycleScheduled` (2009-10 naming 2008-09 as previous),
  `CycleOpened` and a `CyclePhaseChanged` per phase reached (2008-09 published, 2009-10 closed).
- **Services** (100,000 records): 50,000 registered in 2008-09 across the providers (weighted
  by kind: LAs and PCTs map most), 2 % withdrawn that year; every active one carried forward
  into 2009-10 (`ServiceCarriedForward`), then 72 % confirmed, 20 % revised, 5 % withdrawn, the
  rest left unchecked; new 2009-10 registrations make the total up to 100,000 records.
- **Questionnaires**: each service record a `service@1` questionnaire (a withdrawn one is
  cancelled instead of answered), each LA `camhs-partnership@1` (subject: its area) and
  `childrens-trust@1`, each whole or commissioning PCT `commissioning-self-assessment@1`.
  Answers are drawn per question type from the shipped definition files and put through the
  questionnaire service's own `normalise` and `evaluate` (so money is "1234.00" text, scored
  scales {score, evidence}, hidden questions left out, the WTE and investment parts add up to
  their totals, looked-after <= caseload); each answered questionnaire gets 2-5
  `AnswersSaved` (its answers spread over them as changes from null, a third of them also
  revising an earlier draft answer), then `ResponseSubmitted` with the effective answers (and
  the scorecard, for a self-assessment). 10 % are delegated (`QuestionnaireDelegated`, the
  delegate's saves, `QuestionnaireReturned`, a fifth `QuestionnaireSentBack` once,
  `DelegationAccepted`); 10 % of submissions are withdrawn, changed and submitted again.
- **Returns**: 2008-09: every organisation owing questionnaires signs off (`CycleSignedOff`
  with NI 51 for an LA's area, `QuestionnaireLocked` on each questionnaire), 3 % late after an
  `ExtensionGranted`, 1 % reopened (`ReturnReopened`, `QuestionnaireUnlocked`, one submission
  withdrawn and redone) and signed off again. 2009-10 (the cycle is closed): 85 % on time, 4 %
  late with an extension, 2 % reopened and re-signed, 1 % reopened and not yet re-signed, 8 %
  not signed off (their service questionnaires 70 % submitted, 20 % in progress, 10 % not
  started; half of them have an extension).

Every event is a contract payload model (validated) in an envelope as reporting's journal
stores it (the test history's shape: prev_hash zeros, hash = sha256 of the event id), ordered
by when it happened; `load` writes them straight into the journal with COPY.
"""

from __future__ import annotations

import hashlib
import random
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from csm_contracts.events.accounts import AccountCreated, MappingLeadNominated
from csm_contracts.events.cycles import (
    CyclePhaseChanged,
    CycleScheduled,
    ExtensionGranted,
    Phase,
    ReturnReopened,
    Timetable,
)
from csm_contracts.events.directory import (
    ClientGroup,
    FieldChange,
    ServiceCarriedForward,
    ServiceConfirmed,
    ServiceContact,
    ServiceRegistered,
    ServiceRevised,
    ServiceWithdrawn,
)
from csm_contracts.events.questionnaire import (
    CycleOpened,
    CycleSignedOff,
    NI51AreaScore,
    QuestionnaireDelegated,
    ResponseSubmitted,
    Scorecard,
)
from csm_contracts.events.registration import (
    OrganisationKind,
    OrganisationLinked,
    OrganisationRegistered,
    OrganisationRenamed,
    PartnershipAreasChanged,
    Region,
)
from csm_contracts.events.responses import (
    AnswerChange,
    AnsweredVia,
    AnswersSavedV2,
    DelegationAccepted,
    QuestionnaireCancelled,
    QuestionnaireIssued,
    QuestionnaireLocked,
    QuestionnaireReturned,
    QuestionnaireSentBack,
    QuestionnaireUnlocked,
    SubjectKind,
    SubmissionWithdrawn,
)
from csm_contracts.registry import EventPayload
from questionnaire.application.catalogue import shipped_catalogue
from questionnaire.domain.answers import evaluate, normalise
from questionnaire.domain.definition import Definition, Question, QuestionType, RuleKind

# The roster of organisations is the browser test's too (tests/e2e/national_roster.py).
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from national_roster import national_roster

CYCLES = ("2008-09", "2009-10")
JOURNAL_COLUMNS = (
    "seq",
    "event_id",
    "type",
    "version",
    "occurred_at",
    "key",
    "stream_id",
    "stream_version",
    "actor",
    "correlation_id",
    "data",
    "prev_hash",
    "hash",
)
ZERO_HASH = "0" * 64

TEXTS = (
    "Delivered jointly with the local children's centre network.",
    "Outreach sessions in three market towns each week.",
    "See the service specification agreed in April.",
    "Referrals mostly from health visitors and schools.",
    "Pilot extended for a further year.",
    "Funding confirmed until March 2011.",
)
EVIDENCE = (
    "Joint strategic needs assessment 2009, section 4",
    "Children and Young People's Plan, priorities 2-5",
    "Minutes of the children's trust board, October",
    "Local Area Agreement indicator returns",
    "Consultation with young people, summer 2009",
    None,
)
SERVICE_NAMES = (
    "Health visiting",
    "School nursing",
    "Speech and language therapy",
    "Community CAMHS",
    "Youth offending team",
    "Family intervention project",
    "Parenting support",
    "Children's centre outreach",
    "Looked-after children's nurse",
    "Short breaks",
    "Paediatric physiotherapy",
    "Young carers project",
    "Teenage pregnancy support",
    "Substance misuse service",
    "Connexions personal advisers",
    "Portage home visiting",
    "Community paediatrics",
    "Educational psychology",
    "Child protection team",
    "Breastfeeding peer support",
)
NEEDS = (
    "learning disabilities",
    "looked-after children",
    "young carers",
    "disabled children",
    "mental health",
    "young offenders",
    "teenage parents",
)


def timetable(cycle: str) -> Timetable:
    year = int(cycle[:4])
    return Timetable(
        sandbox_opens=datetime(year, 9, 1, 9, tzinfo=UTC),
        data_entry_opens=datetime(year, 10, 1, 9, tzinfo=UTC),
        summary_reports=datetime(year, 12, 1, 9, tzinfo=UTC),
        data_entry_closes=datetime(year + 1, 2, 28, 23, 59, tzinfo=UTC),
        publication=datetime(year + 1, 4, 30, 9, tzinfo=UTC),
    )


# --- answers --------------------------------------------------------------------------------


class Answers:
    """Answer sets drawn from a shipped definition: valid, complete, as the service stores them."""

    def __init__(self, definition: Definition, rng: random.Random) -> None:
        self.definition = definition
        self.rng = rng
        self.order = list(definition.questions)

    def _raw(self, q: Question, camhs: bool | None) -> Any:
        rng, t = self.rng, q.type
        if q.id == "camhs" and camhs is not None:
            return camhs
        if t is QuestionType.SINGLE_CHOICE:
            return rng.choice(q.options).value
        if t is QuestionType.MULTIPLE_CHOICE:
            low = q.min_selected or 1
            high = min(len(q.options), q.max_selected or 4)
            return [o.value for o in rng.sample(q.options, rng.randint(low, max(low, high)))]
        if t is QuestionType.YES_NO:
            return rng.random() < 0.65
        if t is QuestionType.INTEGER:
            low = int(q.min) if q.min is not None else 0
            high = int(q.max) if q.max is not None else low + 400
            return rng.randint(low, high)
        if t is QuestionType.DECIMAL:
            return float(Decimal(rng.randint(0, 150)) / 10)
        if t is QuestionType.MONEY:
            return f"{rng.randint(0, 400_000)}.{rng.randint(0, 99):02d}"
        if t is QuestionType.PERCENTAGE:
            return rng.randint(0, 100)
        if t is QuestionType.DATE:
            low = q.min if isinstance(q.min, date) else date(2005, 1, 1)
            high = q.max if isinstance(q.max, date) else date(2010, 3, 31)
            return (low + timedelta(days=rng.randint(0, (high - low).days))).isoformat()
        if t is QuestionType.TEXT:
            return rng.choice(TEXTS)
        return {"score": rng.choice(sorted(q.levels)), "evidence": rng.choice(EVIDENCE)}

    def draw(self, camhs: bool | None = None) -> dict[str, Any]:
        """One complete, valid answer set (effective answers, in question order)."""
        for _ in range(50):
            raw = {qid: self._raw(q, camhs) for qid, q in self.definition.questions.items()}
            for rule in self.definition.rules:
                if rule.kind is RuleKind.SUM_EQUALS and rule.total is not None:
                    # A few parts carry the whole; the total is their exact sum.
                    parts = list(rule.parts)
                    used = set(self.rng.sample(parts, self.rng.randint(1, min(4, len(parts)))))
                    for p in parts:
                        if p not in used:
                            raw[p] = 0
                    total = sum((Decimal(str(raw[p])) for p in parts), Decimal(0))
                    raw[rule.total] = str(total) if isinstance(raw[parts[0]], str) else float(total)
                elif rule.kind is RuleKind.LESS_OR_EQUAL and rule.left and rule.right:
                    raw[rule.left] = min(raw[rule.left], raw[rule.right])
            stored = {qid: normalise(self.definition.questions[qid], v) for qid, v in raw.items()}
            evaluation = evaluate(self.definition, stored)
            if not evaluation.problems:
                return evaluation.effective
        raise RuntimeError(f"could not draw valid answers for {self.definition.ref}")


@dataclass
class Templates:
    """A pool of answer sets per definition (drawing is the slow part, so sets are reused)."""

    service_camhs: list[dict[str, Any]]
    service_other: list[dict[str, Any]]
    camhs_partnership: list[dict[str, Any]]
    childrens_trust: list[dict[str, Any]]
    self_assessment: list[dict[str, Any]]
    definitions: dict[str, Definition]

    @classmethod
    def build(cls, rng: random.Random, size: int) -> Templates:
        catalogue = shipped_catalogue()
        defs = {d.id: d for d in catalogue.all()}
        service = Answers(defs["service"], rng)
        return cls(
            service_camhs=[service.draw(camhs=True) for _ in range(size)],
            service_other=[service.draw(camhs=False) for _ in range(size * 3)],
            camhs_partnership=[Answers(defs["camhs-partnership"], rng).draw() for _ in range(size)],
            childrens_trust=[Answers(defs["childrens-trust"], rng).draw() for _ in range(size)],
            self_assessment=[
                Answers(defs["commissioning-self-assessment"], rng).draw() for _ in range(size)
            ],
            definitions=defs,
        )


# --- the history ------------------------------------------------------------------------------


@dataclass
class Event:
    at: datetime
    order: int
    type: str
    version: int
    key: str
    stream_id: str
    stream_version: int
    actor: str
    data: str


@dataclass
class Org:
    code: str
    name: str
    kind: str
    region: str
    areas: list[str]
    linked: str | None = None
    mapped_by: str | None = None
    services: dict[str, list[Svc]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Svc:
    service_id: str
    cycle: str
    org: Org
    name: str
    camhs: bool
    answers: dict[str, Any]
    group_id: str | None
    at: datetime
    withdrawn_at: datetime | None = None


@dataclass
class Instance:
    """One questionnaire instance as the history leaves it (the lag phase edits some)."""

    questionnaire_id: str
    organisation_id: str
    cycle: str
    definition: str
    title: str
    subject_kind: str
    subject_id: str
    answers: dict[str, Any]
    submitted: bool


@dataclass
class History:
    events: list[Event]
    counts: Counter[str]
    answers_submitted: int
    answers_saved: int
    organisations: int
    services: int
    la_areas: list[str]
    regions: list[str]
    #: Submitted 2009-10 service questionnaires of organisations that have not signed off.
    editable: list[Instance]
    stream_versions: dict[str, int]
    templates: Templates


class Builder:
    def __init__(self, scale: float, seed: int) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self.versions: dict[str, int] = defaultdict(int)
        self.last_at: dict[str, datetime] = {}
        self.counts: Counter[str] = Counter()
        self.answers_submitted = 0
        self.answers_saved = 0
        self.editable: list[Instance] = []
        self.templates = Templates.build(self.rng, 300 if scale >= 0.2 else 80)

    # -- plumbing

    def emit(self, payload: EventPayload, at: datetime, stream: str, actor: str = "system") -> None:
        # A stream's events never go back in time, whatever the dice said.
        last = self.last_at.get(stream)
        if last is not None and at <= last:
            at = last + timedelta(milliseconds=1)
        self.last_at[stream] = at
        self.versions[stream] += 1
        self.counts[payload.EVENT_TYPE] += 1
        self.events.append(
            Event(
                at,
                len(self.events),
                payload.EVENT_TYPE,
                payload.VERSION,
                payload.organisation_id,
                stream,
                self.versions[stream],
                actor,
                payload.model_dump_json(),
            )
        )

    def between(self, a: datetime, b: datetime) -> datetime:
        if b <= a:
            return a + timedelta(seconds=1)
        return a + timedelta(seconds=self.rng.uniform(0, (b - a).total_seconds()))

    def n(self, full: int, least: int = 3) -> int:
        return max(least, round(full * self.scale))

    # -- organisations

    def organisations(self) -> list[Org]:
        roster = national_roster(
            self.rng, total=self.n(5000, 40), las=self.n(150, 9), pcts=self.n(300, 9)
        )
        return [
            Org(o.code, o.name, o.kind, o.region, o.areas, o.linked, o.mapped_by) for o in roster
        ]

    def register(self, orgs: Sequence[Org]) -> None:
        rng = self.rng
        at = datetime(2008, 6, 2, 9, tzinfo=UTC)
        for org in orgs:
            at += timedelta(seconds=rng.randint(60, 900))
            # The provider arm names its commissioning part, which is then linked back.
            linked = org.linked if org.kind == "pct-provider" else None
            mapped_by = org.mapped_by
            stream = f"organisation-{org.code}"
            self.emit(
                OrganisationRegistered(
                    organisation_id=org.code,
                    code=org.code,
                    name=org.name,
                    kind=OrganisationKind(org.kind),
                    region=Region(org.region),
                    partnership_areas=org.areas,
                    linked_organisation_id=linked,
                    mapped_by=mapped_by,
                ),
                at,
                stream,
                "user:national-admin",
            )
            if linked is not None:
                self.emit(
                    OrganisationLinked(organisation_id=linked, linked_organisation_id=org.code),
                    at + timedelta(seconds=1),
                    f"organisation-{linked}",
                )
            account = uuid.UUID(int=rng.getrandbits(128)).hex
            email = f"lead.{org.code.lower()}@example.org.uk"
            name = f"Lead of {org.code}"
            self.emit(
                AccountCreated(
                    organisation_id=org.code,
                    account_id=account,
                    email=email,
                    name=name,
                    roles=["mapping-lead"],
                    created_by="user:national-admin",
                ),
                at + timedelta(seconds=2),
                f"account-{account}",
                "user:national-admin",
            )
            self.emit(
                MappingLeadNominated(
                    organisation_id=org.code,
                    account_id=account,
                    email=email,
                    name=name,
                    nominated_by="user:national-admin",
                ),
                at + timedelta(seconds=3),
                stream,
                "user:national-admin",
            )
        for org in rng.sample(list(orgs), max(1, len(orgs) // 100)):
            when = datetime(2009, 5, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 2000))
            new = f"{org.name} (renamed)"
            self.emit(
                OrganisationRenamed(organisation_id=org.code, old_name=org.name, new_name=new),
                when,
                f"organisation-{org.code}",
            )
            org.name = new
        la_codes = [o.code for o in orgs if o.kind == "local-authority"]
        for org in rng.sample(
            [o for o in orgs if o.kind != "local-authority"], max(1, len(orgs) // 100)
        ):
            when = datetime(2009, 6, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 1500))
            new_areas = sorted(set(org.areas) | {rng.choice(la_codes)})
            if new_areas != org.areas:
                self.emit(
                    PartnershipAreasChanged(
                        organisation_id=org.code,
                        old_partnership_areas=org.areas,
                        new_partnership_areas=new_areas,
                    ),
                    when,
                    f"organisation-{org.code}",
                )
                org.areas = new_areas

    # -- cycles

    def cycle_events(self, cycle: str, previous: str | None, last_phase: Phase) -> None:
        t = timetable(cycle)
        stream = f"cycle-{cycle}"
        admin = "user:national-admin"
        self.emit(
            CycleScheduled(cycle=cycle, previous_cycle=previous, timetable=t),
            t.sandbox_opens - timedelta(days=30),
            stream,
            admin,
        )
        starts = [
            (Phase.SANDBOX, t.sandbox_opens),
            (Phase.DATA_ENTRY, t.data_entry_opens),
            (Phase.SUMMARY_REPORTS, t.summary_reports),
            (Phase.CLOSED, t.data_entry_closes),
            (Phase.PUBLISHED, t.publication),
        ]
        old = Phase.SCHEDULED
        for phase, when in starts:
            self.emit(
                CyclePhaseChanged(
                    cycle=cycle, old_phase=old, phase=phase, changed_at=when, by_clock=True
                ),
                when,
                stream,
            )
            if phase is Phase.DATA_ENTRY:
                self.emit(
                    CycleOpened(cycle=cycle, previous_cycle=previous, opened_at=when), when, stream
                )
            old = phase
            if phase is last_phase:
                break

    # -- services

    def service_fields(self, svc: Svc, provider: Org, commissioners: list[str]) -> dict[str, Any]:
        a = svc.answers
        rng = self.rng
        age_min = rng.choice((0, 0, 5, 11))
        return {
            "organisation_id": provider.code,
            "service_id": svc.service_id,
            "cycle": svc.cycle,
            "name": svc.name,
            "description": f"{svc.name} for children and families in "
            f"{', '.join(provider.areas)}. {rng.choice(TEXTS)}",
            "service_type": a.get("level_of_need", "targeted"),
            "client_group": ClientGroup(
                age_min=age_min,
                age_max=rng.choice((11, 18, 19, 25)),
                needs=rng.sample(NEEDS, rng.randint(0, 2)),
            ),
            "camhs": svc.camhs,
            "camhs_tier": int(a["camhs_tier"]) if svc.camhs and "camhs_tier" in a else None,
            "group_id": svc.group_id,
            "provider_id": provider.code,
            "commissioner_ids": commissioners,
            "contact": ServiceContact(
                name=f"Manager {svc.name}",
                email=f"team@{provider.code.lower()}.example.org.uk",
                phone="01632 960000",
            ),
        }

    def draw_service_answers(self) -> tuple[bool, dict[str, Any]]:
        camhs = self.rng.random() < 0.25
        pool = self.templates.service_camhs if camhs else self.templates.service_other
        return camhs, self.rng.choice(pool)

    def services(self, orgs: Sequence[Org]) -> None:
        rng = self.rng
        weight = {
            "local-authority": 60,
            "pct": 40,
            "pct-commissioning": 30,
            "pct-provider": 40,
            "nhs-trust-acute": 25,
            "nhs-trust-mental-health": 25,
            "nhs-trust-community": 30,
            "nhs-trust-ambulance": 5,
            "third-sector": 3.6,
            "private-provider": 3,
        }
        cum: list[float] = []
        running = 0.0
        for o in orgs:
            running += weight[o.kind]
            cum.append(running)
        commissioners_of: dict[str, list[str]] = defaultdict(list)
        for o in orgs:
            if o.kind in ("local-authority", "pct", "pct-commissioning"):
                for area in o.areas:
                    commissioners_of[area].append(o.code)
        total = self.n(100_000, 20)
        first = total // 2
        t1 = timetable(CYCLES[0])
        for i in range(first):
            provider = rng.choices(orgs, cum_weights=cum)[0]
            camhs, answers = self.draw_service_answers()
            name = f"{rng.choice(SERVICE_NAMES)} {i + 1}"
            group = f"G-{provider.code}-{rng.randint(1, 3)}" if rng.random() < 0.2 else None
            svc = Svc(
                str(uuid.UUID(int=rng.getrandbits(128))),
                CYCLES[0],
                provider,
                name,
                camhs,
                answers,
                group,
                self.between(t1.sandbox_opens, t1.data_entry_opens + timedelta(days=45)),
            )
            commissioners = sorted({c for a in provider.areas for c in commissioners_of[a][:2]})
            self.emit(
                ServiceRegistered(**self.service_fields(svc, provider, commissioners)),
                svc.at,
                f"service-{svc.service_id}",
                "user:lead",
            )
            if rng.random() < 0.02:
                svc.withdrawn_at = self.between(svc.at, svc.at + timedelta(days=30))
                self.emit(
                    ServiceWithdrawn(
                        organisation_id=provider.code,
                        service_id=svc.service_id,
                        cycle=svc.cycle,
                        reason="No longer provided",
                    ),
                    svc.withdrawn_at,
                    f"service-{svc.service_id}",
                    "user:lead",
                )
            provider.services[svc.cycle].append(svc)
        # 2009-10: carried forward at the opening, then checked; new ones registered.
        t2 = timetable(CYCLES[1])
        carried = 0
        for org in orgs:
            for old in org.services[CYCLES[0]]:
                if old.withdrawn_at is not None:
                    continue
                carried += 1
                keep = rng.random() < 0.6
                camhs, answers = (old.camhs, old.answers) if keep else self.draw_service_answers()
                new_id = str(uuid.uuid5(uuid.UUID(old.service_id), CYCLES[1]))
                svc = Svc(
                    new_id,
                    CYCLES[1],
                    org,
                    old.name,
                    camhs,
                    answers,
                    old.group_id,
                    t2.data_entry_opens + timedelta(seconds=rng.uniform(1, 3600)),
                )
                commissioners = sorted({c for a in org.areas for c in commissioners_of[a][:2]})
                fields = self.service_fields(svc, org, commissioners)
                stream = f"service-{new_id}"
                self.emit(
                    ServiceCarriedForward(
                        **fields, previous_service_id=old.service_id, previous_cycle=CYCLES[0]
                    ),
                    svc.at,
                    stream,
                )
                check = self.between(svc.at, svc.at + timedelta(days=50))
                roll = rng.random()
                if roll < 0.72:
                    self.emit(
                        ServiceConfirmed(
                            organisation_id=org.code, service_id=new_id, cycle=svc.cycle
                        ),
                        check,
                        stream,
                        "user:lead",
                    )
                elif roll < 0.92:
                    changes = [
                        FieldChange(field="status", old="to-be-checked", new="active"),
                        FieldChange(field="contact.phone", old="01632 960000", new="01632 960123"),
                    ]
                    if rng.random() < 0.5:
                        changes.append(
                            FieldChange(field="name", old=svc.name, new=f"{svc.name} (revised)")
                        )
                        svc.name = f"{svc.name} (revised)"
                    self.emit(
                        ServiceRevised(
                            organisation_id=org.code,
                            service_id=new_id,
                            cycle=svc.cycle,
                            changes=changes,
                        ),
                        check,
                        stream,
                        "user:lead",
                    )
                elif roll < 0.97:
                    svc.withdrawn_at = check
                    self.emit(
                        ServiceWithdrawn(
                            organisation_id=org.code,
                            service_id=new_id,
                            cycle=svc.cycle,
                            reason="Service decommissioned",
                        ),
                        check,
                        stream,
                        "user:lead",
                    )
                org.services[svc.cycle].append(svc)
        for i in range(max(0, total - first - carried)):
            provider = rng.choices(orgs, cum_weights=cum)[0]
            camhs, answers = self.draw_service_answers()
            name = f"{rng.choice(SERVICE_NAMES)} {first + i + 1}"
            svc = Svc(
                str(uuid.UUID(int=rng.getrandbits(128))),
                CYCLES[1],
                provider,
                name,
                camhs,
                answers,
                None,
                self.between(t2.data_entry_opens, t2.data_entry_opens + timedelta(days=45)),
            )
            commissioners = sorted({c for a in provider.areas for c in commissioners_of[a][:2]})
            self.emit(
                ServiceRegistered(**self.service_fields(svc, provider, commissioners)),
                svc.at,
                f"service-{svc.service_id}",
                "user:lead",
            )
            provider.services[svc.cycle].append(svc)

    # -- questionnaires and returns

    def questionnaire(
        self,
        org: Org,
        cycle: str,
        definition: str,
        title: str,
        subject_kind: SubjectKind,
        subject_id: str,
        answers: dict[str, Any],
        issued_at: datetime,
        done_by: datetime,
        outcome: str,
        group_id: str | None = None,
    ) -> Instance:
        """Issue, answer over 2-5 saves (maybe through a delegate), and submit before
        `done_by`. outcome: submitted | in-progress | not-started."""
        rng = self.rng
        qid = str(uuid.UUID(int=rng.getrandbits(128)))
        stream = f"questionnaire-{qid}"
        base = {"organisation_id": org.code, "cycle": cycle, "questionnaire_id": qid}
        lead = f"user:lead-{org.code.lower()}"
        self.emit(
            QuestionnaireIssued(
                **base,
                definition=definition,
                title=title,
                subject_kind=subject_kind,
                subject_id=subject_id,
                group_id=group_id,
            ),
            issued_at,
            stream,
        )
        instance = Instance(
            qid,
            org.code,
            cycle,
            definition,
            title,
            subject_kind.value,
            subject_id,
            answers,
            outcome == "submitted",
        )
        if outcome == "not-started":
            return instance
        items = list(answers.items())
        if outcome == "in-progress":
            items = items[: max(1, len(items) // 2)]
        saves = min(rng.randint(2, 5), len(items))
        end = done_by - timedelta(hours=6)
        times = sorted(
            self.between(issued_at + timedelta(minutes=5), end) for _ in range(saves + 2)
        )
        delegated = rng.random() < 0.10
        delegation = uuid.UUID(int=rng.getrandbits(128)).hex if delegated else None
        delegate = f"deputy.{org.code.lower()}@example.org.uk"
        if delegated:
            self.emit(
                QuestionnaireDelegated(
                    **base,
                    delegation_id=delegation,
                    delegate_email=delegate,
                    delegated_by=lead,
                    expires_at=end + timedelta(days=30),
                    title=title,
                ),
                times[0],
                stream,
                lead,
            )
        chunks = [items[k::saves] for k in range(saves)]
        # A third revise a draft answer: the first save puts a draft value, a later one fixes it.
        numeric = [q for q, v in items if isinstance(v, bool | int | float)]
        draft_q = numeric[0] if numeric and rng.random() < 0.33 and saves > 1 else None
        for k, chunk in enumerate(chunks):
            changes = [AnswerChange(question=q, old=None, new=v) for q, v in chunk]
            if draft_q is not None and k == 0:
                changes = [
                    AnswerChange(question=draft_q, old=None, new=_draft(answers[draft_q]))
                    if c.question == draft_q
                    else c
                    for c in changes
                ]
            if draft_q is not None and k == saves - 1:
                changes.append(
                    AnswerChange(
                        question=draft_q, old=_draft(answers[draft_q]), new=answers[draft_q]
                    )
                )
            via = AnsweredVia.DELEGATE if delegated else AnsweredVia.ACCOUNT
            self.answers_saved += len(changes)
            self.emit(
                AnswersSavedV2(
                    **base, changes=changes, via=via, delegation_id=delegation, answered=None
                ),
                times[k + 1],
                stream,
                f"delegate:{delegation}" if delegated else lead,
            )
        after = times[saves] + timedelta(minutes=1)
        if delegated:
            if rng.random() < 0.2:
                self.emit(
                    QuestionnaireReturned(
                        **base, delegation_id=delegation, delegate_email=delegate
                    ),
                    after,
                    stream,
                    f"delegate:{delegation}",
                )
                self.emit(
                    QuestionnaireSentBack(
                        **base,
                        delegation_id=delegation,
                        delegate_email=delegate,
                        comment="Please check the workforce figures.",
                    ),
                    after + timedelta(minutes=30),
                    stream,
                    lead,
                )
                after += timedelta(hours=2)
            self.emit(
                QuestionnaireReturned(**base, delegation_id=delegation, delegate_email=delegate),
                after,
                stream,
                f"delegate:{delegation}",
            )
            after += timedelta(minutes=20)
            self.emit(
                DelegationAccepted(**base, delegation_id=delegation, delegate_email=delegate),
                after,
                stream,
                lead,
            )
        if outcome != "submitted":
            return instance
        submit_at = after + timedelta(minutes=rng.randint(1, 120))
        self.submit(instance, submit_at, lead)
        if rng.random() < 0.10:
            withdraw_at = submit_at + timedelta(minutes=rng.randint(5, 40))
            self.redo(instance, withdraw_at, lead)
        return instance

    def submit(self, q: Instance, at: datetime, by: str) -> None:
        scorecard = None
        if q.definition.startswith("commissioning-self-assessment"):
            definition = self.templates.definitions["commissioning-self-assessment"]
            grades = evaluate(definition, q.answers).grades
            assert grades is not None
            scorecard = Scorecard(
                topics={k: g.value if g else None for k, g in grades.topics.items()},
                overall=grades.overall.value if grades.overall else None,
            )
        self.answers_submitted += len(q.answers)
        self.emit(
            ResponseSubmitted(
                organisation_id=q.organisation_id,
                cycle=q.cycle,
                questionnaire_id=q.questionnaire_id,
                definition=q.definition,
                submitted_by=by,
                answers=q.answers,
                subject_kind=q.subject_kind,
                subject_id=q.subject_id,
                scorecard=scorecard,
            ),
            at,
            f"questionnaire-{q.questionnaire_id}",
            by,
        )

    def redo(self, q: Instance, at: datetime, by: str) -> None:
        """Withdraw a submission, change one answer back and forth, submit again."""
        base = {
            "organisation_id": q.organisation_id,
            "cycle": q.cycle,
            "questionnaire_id": q.questionnaire_id,
        }
        stream = f"questionnaire-{q.questionnaire_id}"
        self.emit(SubmissionWithdrawn(**base, reason="A figure needs correcting"), at, stream, by)
        question, value = next(
            ((k, v) for k, v in q.answers.items() if isinstance(v, bool | int | float)),
            next(iter(q.answers.items())),
        )
        for minutes, old, new in ((2, value, _draft(value)), (4, _draft(value), value)):
            self.answers_saved += 1
            self.emit(
                AnswersSavedV2(
                    **base,
                    changes=[AnswerChange(question=question, old=old, new=new)],
                    answered=None,
                ),
                at + timedelta(minutes=minutes),
                stream,
                by,
            )
        self.submit(q, at + timedelta(minutes=6), by)

    def returns(self, orgs: Sequence[Org], cycle: str) -> None:
        rng = self.rng
        t = timetable(cycle)
        close = t.data_entry_closes
        current = cycle == CYCLES[-1]
        definitions = {
            "service": "service@1",
            "camhs": "camhs-partnership@1",
            "trust": "childrens-trust@1",
            "sa": "commissioning-self-assessment@1",
        }
        for org in orgs:
            owed: list[
                tuple[
                    str,
                    str,
                    SubjectKind,
                    str,
                    dict[str, Any],
                    datetime,
                    str | None,
                    datetime | None,
                ]
            ] = []
            for svc in org.services[cycle]:
                owed.append(
                    (
                        definitions["service"],
                        f"Service: {svc.name}",
                        SubjectKind.SERVICE,
                        svc.service_id,
                        svc.answers,
                        svc.at + timedelta(minutes=1),
                        svc.group_id,
                        svc.withdrawn_at,
                    )
                )
            if org.kind == "local-authority":
                issue = t.sandbox_opens + timedelta(minutes=5)
                owed.append(
                    (
                        definitions["camhs"],
                        f"CAMHS partnership: {org.name}",
                        SubjectKind.AREA,
                        org.code,
                        rng.choice(self.templates.camhs_partnership),
                        issue,
                        None,
                        None,
                    )
                )
                owed.append(
                    (
                        definitions["trust"],
                        f"Children's Trust arrangements: {org.name}",
                        SubjectKind.ORGANISATION,
                        org.code,
                        rng.choice(self.templates.childrens_trust),
                        issue,
                        None,
                        None,
                    )
                )
            if org.kind in ("pct", "pct-commissioning"):
                owed.append(
                    (
                        definitions["sa"],
                        f"Commissioning self-assessment: {org.name}",
                        SubjectKind.ORGANISATION,
                        org.code,
                        rng.choice(self.templates.self_assessment),
                        t.sandbox_opens + timedelta(minutes=5),
                        None,
                        None,
                    )
                )
            if not owed:
                continue
            roll = rng.random()
            if current:
                fate = (
                    "on-time"
                    if roll < 0.85
                    else "late"
                    if roll < 0.89
                    else "reopened"
                    if roll < 0.91
                    else "reopened-open"
                    if roll < 0.92
                    else "open"
                )
            else:
                fate = "on-time" if roll < 0.96 else "late" if roll < 0.99 else "reopened"
            lead = f"user:lead-{org.code.lower()}"
            return_stream = f"return-{cycle}-{org.code}"
            if fate == "late" or (fate == "open" and rng.random() < 0.5):
                self.emit(
                    ExtensionGranted(
                        organisation_id=org.code,
                        cycle=cycle,
                        until=close + timedelta(days=21),
                        reason="Late data from a provider",
                    ),
                    close - timedelta(days=3),
                    return_stream,
                    "user:national-admin",
                )
            sign_at = (
                close + timedelta(days=rng.uniform(1, 20))
                if fate == "late"
                else close - timedelta(days=rng.uniform(1, 25))
            )
            instances: list[Instance] = []
            for definition, title, kind, subject, answers, issued_at, group, withdrawn in owed:
                if withdrawn is not None:
                    qid = str(uuid.UUID(int=rng.getrandbits(128)))
                    base = {"organisation_id": org.code, "cycle": cycle, "questionnaire_id": qid}
                    self.emit(
                        QuestionnaireIssued(
                            **base,
                            definition=definition,
                            title=title,
                            subject_kind=kind,
                            subject_id=subject,
                            group_id=group,
                        ),
                        issued_at,
                        f"questionnaire-{qid}",
                    )
                    self.emit(
                        QuestionnaireCancelled(**base, reason="The service was withdrawn"),
                        max(withdrawn, issued_at) + timedelta(minutes=1),
                        f"questionnaire-{qid}",
                    )
                    continue
                outcome = "submitted"
                if fate == "open" and kind is SubjectKind.SERVICE:
                    r = rng.random()
                    outcome = (
                        "submitted" if r < 0.7 else "in-progress" if r < 0.9 else "not-started"
                    )
                done_by = sign_at if fate != "open" else close + timedelta(days=20)
                instances.append(
                    self.questionnaire(
                        org,
                        cycle,
                        definition,
                        title,
                        kind,
                        subject,
                        answers,
                        issued_at,
                        done_by,
                        outcome,
                        group,
                    )
                )
            if fate == "open":
                if current:
                    self.editable += [
                        i for i in instances if i.submitted and i.definition == "service@1"
                    ]
                continue
            self.sign_off(org, cycle, instances, sign_at, lead, None)
            if fate.startswith("reopened"):
                reopen_at = sign_at + timedelta(days=rng.uniform(2, 10))
                self.emit(
                    ReturnReopened(
                        organisation_id=org.code,
                        cycle=cycle,
                        reason="Corrections requested by the region",
                        was_signed_off_at=sign_at,
                    ),
                    reopen_at,
                    return_stream,
                    "user:national-admin",
                )
                for q in instances:
                    self.emit(
                        QuestionnaireUnlocked(
                            organisation_id=org.code,
                            cycle=cycle,
                            questionnaire_id=q.questionnaire_id,
                            reason="Return reopened",
                        ),
                        reopen_at,
                        f"questionnaire-{q.questionnaire_id}",
                    )
                if fate == "reopened":
                    self.redo(instances[0], reopen_at + timedelta(hours=1), lead)
                    again = reopen_at + timedelta(days=rng.uniform(1, 5))
                    self.sign_off(org, cycle, instances, again, lead, sign_at)

    def sign_off(
        self,
        org: Org,
        cycle: str,
        instances: list[Instance],
        at: datetime,
        by: str,
        supersedes: datetime | None,
    ) -> None:
        ni51 = []
        for q in instances:
            self.emit(
                QuestionnaireLocked(
                    organisation_id=org.code,
                    cycle=cycle,
                    questionnaire_id=q.questionnaire_id,
                    signed_off_at=at,
                    signed_off_by=by,
                ),
                at,
                f"questionnaire-{q.questionnaire_id}",
                by,
            )
            if q.definition.startswith("camhs-partnership"):
                s = {
                    k: q.answers[k]["score"]
                    for k in (
                        "learning_disabilities",
                        "urgent_24_hour_cover",
                        "age_16_17",
                        "early_intervention",
                    )
                }
                ni51.append(NI51AreaScore(area=q.subject_id, **s, score=sum(s.values())))
        heads = {
            f"questionnaire-{q.questionnaire_id}": hashlib.sha256(
                q.questionnaire_id.encode()
            ).hexdigest()
            for q in instances
        }
        self.emit(
            CycleSignedOff(
                organisation_id=org.code,
                cycle=cycle,
                signed_off_at=at,
                signed_off_by=by,
                questionnaires_submitted=len(instances),
                questionnaires_issued=len(instances),
                answers_count=sum(len(q.answers) for q in instances),
                ni51=ni51,
                stream_heads=heads,
                supersedes=supersedes,
                organisation_name=org.name,
            ),
            at + timedelta(seconds=1),
            f"return-{cycle}-{org.code}",
            by,
        )


def _draft(value: Any) -> Any:
    """A plausible earlier value of a yes/no or number answer (any other stays the same)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    return value


def generate(scale: float = 1.0, seed: int = 20091123) -> History:
    """The whole history, ordered by when each event happened."""
    b = Builder(scale, seed)
    orgs = b.organisations()
    b.register(orgs)
    b.cycle_events(CYCLES[0], None, Phase.PUBLISHED)
    b.cycle_events(CYCLES[1], CYCLES[0], Phase.CLOSED)
    b.services(orgs)
    for cycle in CYCLES:
        b.returns(orgs, cycle)
    b.events.sort(key=lambda e: (e.at, e.order))
    return History(
        events=b.events,
        counts=b.counts,
        answers_submitted=b.answers_submitted,
        answers_saved=b.answers_saved,
        organisations=len(orgs),
        services=sum(len(v) for o in orgs for v in o.services.values()),
        la_areas=[o.code for o in orgs if o.kind == "local-authority"],
        regions=sorted({o.region for o in orgs if o.kind == "local-authority"}),
        editable=b.editable,
        stream_versions=dict(b.versions),
        templates=b.templates,
    )


def rows(events: Sequence[Event], first_seq: int = 1) -> list[tuple[Any, ...]]:
    """Journal rows (JOURNAL_COLUMNS) for events, numbered from `first_seq`."""
    out = []
    for i, e in enumerate(events):
        event_id = uuid.uuid4()
        out.append(
            (
                first_seq + i,
                event_id,
                e.type,
                e.version,
                e.at,
                e.key,
                e.stream_id,
                e.stream_version,
                e.actor,
                str(uuid.uuid4()),
                e.data,
                ZERO_HASH,
                hashlib.sha256(event_id.bytes).hexdigest(),
            )
        )
    return out


async def load(pool: asyncpg.Pool, events: Sequence[Event], chunk: int = 50_000) -> int:
    """COPY the events into an empty journal (seq 1..n); how many."""
    async with pool.acquire() as conn:
        head = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM journal")
        for start in range(0, len(events), chunk):
            await conn.copy_records_to_table(
                "journal",
                records=rows(events[start : start + chunk], head + start + 1),
                columns=JOURNAL_COLUMNS,
            )
        await conn.execute("ANALYZE journal")
    return len(events)
