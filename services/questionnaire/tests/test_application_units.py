"""The use cases against in-memory fakes of their ports: what they read, what they decide
with the domain, and what they ask the adapters to write (no database)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from csm_contracts.auth import Role
from csm_contracts.events.cycles import ReturnReopened, SignOffWithdrawn
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.events.responses import (
    QuestionnaireCancelled,
    QuestionnaireLocked,
    QuestionnaireUnlocked,
)
from csm_contracts.registry import EventPayload
from csm_kernel.auth import Principal
from csm_kernel.clock import FixedClock
from csm_kernel.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound
from csm_kernel.store import AppendContext
from questionnaire.application.cycles import Cycles
from questionnaire.application.following import Following
from questionnaire.application.sign_off import Returns
from questionnaire.domain.cycle import CycleState, ReturnState, evolve_return
from questionnaire.domain.definition import DefinitionKind
from questionnaire.domain.owed import KnownOrganisation, KnownService
from questionnaire.domain.questionnaire import Questionnaire, Status, questionnaire_id

from .test_sign_off_domain import CATALOGUE, NOW, OPEN, _camhs, _trust

CONN: Any = object()  # the opaque connection a transaction gives
CTX = AppendContext(actor="user:lead")
LEAD = Principal("lead", "s", frozenset({Role.MAPPING_LEAD}), organisation_id="LA1")


class FakeTransactions:
    def __init__(self) -> None:
        self.opened = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.opened += 1
        yield CONN


@dataclass
class FakeCycles:
    cycle: CycleState = OPEN
    ret: ReturnState = field(default_factory=lambda: ReturnState("2009-10", "LA1"))
    appended: list[EventPayload] = field(default_factory=list)
    last: datetime | None = None

    async def find(self, cycle: str, conn: Any = None) -> CycleState | None:
        return self.cycle if cycle == self.cycle.cycle else None

    async def lock_issuing(self, conn: Any) -> None:
        assert conn is CONN

    async def get(self, cycle: str, conn: Any = None) -> CycleState:
        if cycle != self.cycle.cycle:
            raise NotFound(f"no cycle {cycle}")
        return self.cycle

    async def load_return(self, cycle: str, organisation_id: str, conn: Any = None) -> ReturnState:
        return self.ret

    async def append_return(
        self,
        conn: Any,
        before: ReturnState,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> ReturnState:
        assert conn is CONN and before == self.ret
        for event in events:
            self.ret = evolve_return(self.ret, event)
        self.appended.extend(events)
        return self.ret

    async def last_sign_off(self, conn: Any, cycle: str, organisation_id: str) -> datetime | None:
        return self.last

    async def last_sign_off_id(self, conn: Any, cycle: str, organisation_id: str) -> str | None:
        assert conn is CONN
        return "id-of-the-sign-off" if self.ret.signed_off_at else None

    async def stream_heads(self, conn: Any, stream_ids: Sequence[str]) -> dict[str, str]:
        return {s: f"head of {s}" for s in stream_ids}


@dataclass
class FakeQuestionnaires:
    items: list[Questionnaire] = field(default_factory=list)
    appended: list[tuple[Questionnaire, Sequence[EventPayload]]] = field(default_factory=list)
    remembered: list[Questionnaire] = field(default_factory=list)
    saved: list[tuple[Questionnaire, Sequence[EventPayload]]] = field(default_factory=list)
    conflict: bool = False

    async def of_return(self, cycle: str, organisation_id: str, conn: Any = None) -> list[Any]:
        return [q for q in self.items if (q.cycle, q.organisation_id) == (cycle, organisation_id)]

    async def find(self, questionnaire_id: str, conn: Any) -> Questionnaire | None:
        return next((q for q in self.items if q.id == questionnaire_id), None)

    async def append_many(
        self, conn: Any, changes: Sequence[tuple[Questionnaire, Sequence[EventPayload]]], ctx: Any
    ) -> None:
        assert conn is CONN
        if self.conflict:
            raise ConcurrencyConflict(changes[0][0].stream_id, changes[0][0].version)
        self.appended.extend(changes)

    def remember(self, questionnaires: Sequence[Questionnaire]) -> None:
        self.remembered.extend(questionnaires)

    async def save(
        self, before: Questionnaire, events: Sequence[EventPayload], ctx: Any, at: Any, conn: Any
    ) -> tuple[Questionnaire, list[Any]]:
        self.saved.append((before, events))
        return before, []

    async def issue(self, conn: Any, events: Mapping[str, Any], context: Any, at: datetime) -> int:
        self.issued = dict(events)
        return len(events)


@dataclass
class FakeRegistry:
    names: dict[str, str] = field(default_factory=lambda: {"LA1": "LA One"})
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def name_of(self, conn: Any, organisation_id: str) -> str | None:
        return self.names.get(organisation_id)

    async def is_known(self, organisation_id: str) -> bool:
        return organisation_id in self.names

    async def organisations(self, conn: Any, organisation_id: str | None = None) -> list[Any]:
        return [
            KnownOrganisation(code, name, "local-authority")
            for code, name in self.names.items()
            if organisation_id in (None, code)
        ]

    async def services(self, conn: Any, cycle: str, *args: Any) -> list[KnownService]:
        return []

    async def service_withdrawn(self, conn: Any, service_id: str) -> None:
        self.calls.append(("withdrawn", service_id))


def _returns(
    cycles: FakeCycles, questionnaires: FakeQuestionnaires, registry: FakeRegistry | None = None
) -> Returns:
    return Returns(
        FakeTransactions(),
        cycles,  # type: ignore[arg-type]
        questionnaires,  # type: ignore[arg-type]
        registry or FakeRegistry(),  # type: ignore[arg-type]
        CATALOGUE,
        FixedClock(NOW),
    )


async def test_sign_off_locks_then_records_the_heads_after_the_locks() -> None:
    cycles, questionnaires = (
        FakeCycles(last=NOW.replace(day=1)),
        FakeQuestionnaires([_camhs(), _trust()]),
    )
    event = await _returns(cycles, questionnaires).sign_off(LEAD, "2009-10", "LA1", CTX)
    assert [type(e) for _, events in questionnaires.appended for e in events] == [
        QuestionnaireLocked,
        QuestionnaireLocked,
    ]
    assert cycles.appended == [event] and isinstance(event, CycleSignedOff)
    assert event.organisation_name == "LA One" and event.supersedes == NOW.replace(day=1)
    assert set(event.stream_heads) == {q.stream_id for q in questionnaires.items} | {
        "return-2009-10-LA1"
    }
    assert cycles.ret.signed_off_at == NOW
    assert [q.locked for q in questionnaires.remembered] == [True, True]


async def test_sign_off_is_the_lead_of_the_organisation_only() -> None:
    returns = _returns(FakeCycles(), FakeQuestionnaires([_camhs()]))
    with pytest.raises(NotFound):
        await returns.sign_off(replace(LEAD, organisation_id="LA2"), "2009-10", "LA1", CTX)
    owner = Principal("o", "s", frozenset({Role.GROUP_OWNER}), organisation_id="LA1")
    with pytest.raises(Forbidden):
        await returns.sign_off(owner, "2009-10", "LA1", CTX)


async def test_sign_off_refused_by_the_rule_writes_nothing() -> None:
    cycles, questionnaires = FakeCycles(), FakeQuestionnaires([_camhs(), _trust(Status.RETURNED)])
    with pytest.raises(Conflict, match="not submitted"):
        await _returns(cycles, questionnaires).sign_off(LEAD, "2009-10", "LA1", CTX)
    assert not cycles.appended and not questionnaires.appended and not questionnaires.remembered


async def test_a_sign_off_that_meets_a_concurrent_change_is_a_conflict_to_retry() -> None:
    cycles, questionnaires = FakeCycles(), FakeQuestionnaires([_camhs()], conflict=True)
    with pytest.raises(Conflict, match="changed meanwhile; try again"):
        await _returns(cycles, questionnaires).sign_off(LEAD, "2009-10", "LA1", CTX)
    assert not cycles.appended and not questionnaires.remembered


async def test_status_says_what_is_owed_and_whether_it_can_be_signed_off() -> None:
    pending = _trust(Status.IN_PROGRESS)
    questionnaires = FakeQuestionnaires(
        [_camhs(), pending, replace(_trust(), id="x", status=Status.CANCELLED)]
    )
    status = await _returns(FakeCycles(), questionnaires).status(LEAD, "2009-10", "LA1")
    assert status["questionnaires_issued"] == 2
    assert status["by_status"] == {"submitted": 1, "in-progress": 1}
    assert status["outstanding"] == [
        {"id": pending.id, "title": pending.title, "status": "in-progress"}
    ]
    assert status["can_sign_off"] is False
    assert [s["score"] for s in status["ni51"]] == [10]


def _cycles(
    questionnaires: FakeQuestionnaires, cycles: FakeCycles, registry: FakeRegistry
) -> Cycles:
    return Cycles(
        FakeTransactions(),
        cycles,  # type: ignore[arg-type]
        questionnaires,  # type: ignore[arg-type]
        registry,  # type: ignore[arg-type]
        CATALOGUE,
        FixedClock(NOW),
    )


async def test_reopening_a_signed_off_return_unlocks_its_questionnaires() -> None:
    locked = [replace(_camhs(), locked=True), replace(_trust(), locked=True)]
    questionnaires = FakeQuestionnaires(locked)
    signed = ReturnState("2009-10", "LA1", version=1, signed_off_at=NOW, signed_off_by="user:lead")
    cycles = FakeCycles(ret=signed)
    ret = await _cycles(questionnaires, cycles, FakeRegistry()).reopen(
        "2009-10", "LA1", "a CQC query", CTX
    )
    assert ret.reopened and ret.signed_off_at is None
    reopened, withdrawn = cycles.appended
    assert isinstance(reopened, ReturnReopened) and reopened.was_signed_off_at == NOW
    # The sign-off is withdrawn with it, for the regulator: which, why, who, when.
    assert isinstance(withdrawn, SignOffWithdrawn)
    assert withdrawn.signed_off_at == NOW and withdrawn.sign_off_event_id == "id-of-the-sign-off"
    assert withdrawn.reason == "a CQC query" and withdrawn.withdrawn_by == CTX.actor
    unlocked = [e for _, events in questionnaires.appended for e in events]
    assert [type(e) for e in unlocked] == [QuestionnaireUnlocked, QuestionnaireUnlocked]
    assert {e.reason for e in unlocked if isinstance(e, QuestionnaireUnlocked)} == {"a CQC query"}


async def test_reopening_an_unknown_organisation_is_not_found() -> None:
    cycles = _cycles(FakeQuestionnaires(), FakeCycles(), FakeRegistry())
    with pytest.raises(NotFound, match="no organisation LA9"):
        await cycles.reopen("2009-10", "LA9", "why", CTX)


async def test_issuing_asks_the_adapter_to_start_each_owed_stream() -> None:
    questionnaires = FakeQuestionnaires()
    cycles = _cycles(questionnaires, FakeCycles(), FakeRegistry())
    count = await cycles.issue_owed("2009-10", organisation_id="LA1", conn=CONN, context=CTX)
    assert count == 2  # a local authority: CAMHS partnership and Children's Trust
    assert {e.definition for e in questionnaires.issued.values()} == {
        CATALOGUE.latest(DefinitionKind.CAMHS_PARTNERSHIP).ref,
        CATALOGUE.latest(DefinitionKind.CHILDRENS_TRUST).ref,
    }


async def test_a_withdrawn_service_has_its_questionnaire_cancelled() -> None:
    service = CATALOGUE.latest(DefinitionKind.SERVICE)
    qid = questionnaire_id("2009-10", "LA1", service.id, "svc-1")
    q = replace(_trust(Status.IN_PROGRESS), id=qid, definition=service.ref)
    questionnaires, registry = FakeQuestionnaires([q]), FakeRegistry()
    following = Following(
        _cycles(questionnaires, FakeCycles(), registry),
        questionnaires,  # type: ignore[arg-type]
        registry,  # type: ignore[arg-type]
        CATALOGUE,
    )
    await following.service_withdrawn(CONN, "svc-1", "2009-10", "LA1", "closed", CTX, NOW)
    assert registry.calls == [("withdrawn", "svc-1")]
    [(before, events)] = questionnaires.saved
    assert before is q and isinstance(events[0], QuestionnaireCancelled)
    assert events[0].reason == "the service was withdrawn: closed"
    # Another service, never issued: recorded, nothing to cancel.
    await following.service_withdrawn(CONN, "svc-2", "2009-10", "LA1", "closed", CTX, NOW)
    assert len(questionnaires.saved) == 1
