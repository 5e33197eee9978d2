"""Answering a questionnaire, by the organisation or its delegate: view, save, delegate, return,
accept or send back, submit. Each use case loads, lets the domain decide, saves at the version
it decided from, and says clearly why when it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from csm_contracts.auth import Role
from csm_contracts.events.responses import AnswersSavedV2
from csm_contracts.registry import EventPayload
from csm_kernel.auth import Principal
from csm_kernel.clock import Clock
from csm_kernel.errors import ConcurrencyConflict, Conflict, Forbidden, Gone, InvalidInput, NotFound
from csm_kernel.event_sourcing import decode_event
from csm_kernel.links import LinkTokens
from csm_kernel.store import AppendContext

from ..domain import questionnaire as decide
from ..domain.answers import AnswerError, Evaluation, evaluate, grades
from ..domain.cycle import ensure_open_for_entry, entry_ends
from ..domain.questionnaire import DelegationStatus, Questionnaire, Status
from .catalogue import DefinitionCatalogue
from .ports import Activity, DelegationRecord, Loaded, QuestionnaireRepository, Uncounted
from .views import RenderedCache, render, splice, summary


@dataclass(frozen=True)
class Delegate:
    """A delegate acting through an emailed link (no account)."""

    questionnaire_id: str
    delegation_id: str
    email: str

    @property
    def actor(self) -> str:
        return f"delegate:{self.delegation_id}"


Caller = Principal | Delegate


def ensure_access(caller: Caller, q: Questionnaire, *, write: bool) -> None:
    """404 for what the caller may not see; 403 for reading roles that try to write."""
    if isinstance(caller, Delegate):
        if caller.questionnaire_id != q.id:
            raise NotFound(f"no questionnaire {q.id}")
        return
    if caller.has(Role.NATIONAL_ADMIN, Role.AUDITOR):
        if write:
            raise Forbidden(
                "the national team and auditors read questionnaires; the organisation answers them"
            )
        return
    same_org = caller.organisation_id == q.organisation_id
    if caller.has(Role.MAPPING_LEAD) and same_org:
        return
    if caller.has(Role.GROUP_OWNER) and same_org and q.group_id and caller.group_id == q.group_id:
        return
    raise NotFound(f"no questionnaire {q.id}")


def ensure_history_access(caller: Caller, loaded: Loaded) -> None:
    """Who reads a questionnaire's history (answers, who, when, old → new): whoever may read
    the questionnaire (`ensure_access`: the national team and auditors every one, the
    organisation its own), and regulators what was signed off: the history of a questionnaire
    whose return is signed off (403 otherwise)."""
    if isinstance(caller, Principal) and caller.has(Role.REGULATOR):
        if loaded.ret.signed_off_at is not None:
            return
        try:
            ensure_access(caller, loaded.questionnaire, write=False)
        except NotFound:
            raise Forbidden(
                f"regulators read what was signed off: {loaded.questionnaire.organisation_id}'s "
                f"{loaded.questionnaire.cycle} return is not signed off"
            ) from None
        return
    ensure_access(caller, loaded.questionnaire, write=False)


class Questionnaires:
    """The answering use cases."""

    def __init__(
        self,
        repo: QuestionnaireRepository,
        catalogue: DefinitionCatalogue,
        clock: Clock,
        links: LinkTokens | None,
        activity: Activity | None = None,
    ) -> None:
        self.repo = repo
        self.catalogue = catalogue
        self.clock = clock
        self.links = links
        self.activity: Activity = activity or Uncounted()
        self.rendered = RenderedCache()

    # --- reading -------------------------------------------------------------------------------

    async def load(self, caller: Caller, questionnaire_id: str, *, write: bool = False) -> Loaded:
        loaded = await self.repo.load(questionnaire_id)
        ensure_access(caller, loaded.questionnaire, write=write)
        return loaded

    def _state(self, loaded: Loaded, caller: Caller, ev: Evaluation) -> dict[str, Any]:
        q = loaded.questionnaire
        score = ev.ni51(q.subject_id)
        out: dict[str, Any] = {
            "id": q.id,
            "cycle": q.cycle,
            "organisation_id": q.organisation_id,
            "organisation_name": loaded.organisation_name,
            "title": q.title,
            "subject": {"kind": q.subject_kind.value, "id": q.subject_id},
            "group_id": q.group_id,
            "status": q.status.value,
            "version": q.version,
            "submitted_at": q.submitted_at.isoformat() if q.submitted_at else None,
            "submitted_by": q.submitted_by,
            "phase": loaded.cycle.phase.value,
            "entry_ends": entry_ends(loaded.cycle, loaded.ret).isoformat(),
            "signed_off_at": (
                loaded.ret.signed_off_at.isoformat() if loaded.ret.signed_off_at else None
            ),
            "can_edit": self._can_edit(loaded, caller),
            "ni51": score.model_dump() if score else None,
        }
        if not isinstance(caller, Delegate) and q.delegation is not None:
            out["delegation"] = q.delegation.as_json()
        elif isinstance(caller, Delegate) and q.delegation is not None:
            out["comment_from_lead"] = q.delegation.comment
        return out

    def view(self, loaded: Loaded, caller: Caller) -> dict[str, Any]:
        """The whole questionnaire: every question with its answer, and where it stands."""
        q = loaded.questionnaire
        definition = self.catalogue.get(q.definition)
        ev = evaluate(definition, q.answers)
        return {**render(definition, q.answers, ev), **self._state(loaded, caller, ev)}

    def view_json(self, loaded: Loaded, caller: Caller) -> bytes:
        """`view` as JSON, the rendering cached by (id, version): the load path."""
        q = loaded.questionnaire

        def build() -> tuple[dict[str, Any], Evaluation]:
            definition = self.catalogue.get(q.definition)
            ev = evaluate(definition, q.answers)
            return render(definition, q.answers, ev), ev

        rendered, ev = self.rendered.get((q.id, q.version), build)
        return splice(rendered, self._state(loaded, caller, ev))

    def saved(self, loaded: Loaded, caller: Caller, changed: list[str]) -> dict[str, Any]:
        """A save's reply: where the questionnaire stands, which questions are shown now and
        what the answers come to, without the questions' text (the client has it)."""
        q = loaded.questionnaire
        ev = evaluate(self.catalogue.get(q.definition), q.answers)
        return {
            **self._state(loaded, caller, ev),
            **summary(ev),
            "changed": changed,
            "answers": q.answers,
            "visible": sorted(ev.shown),
        }

    def _can_edit(self, loaded: Loaded, caller: Caller) -> bool:
        q = loaded.questionnaire
        if q.status in (Status.SUBMITTED, Status.CANCELLED):
            return False
        if isinstance(caller, Principal) and caller.has(Role.NATIONAL_ADMIN, Role.AUDITOR):
            return False
        if isinstance(caller, Delegate):
            d = q.delegation
            if d is None or d.id != caller.delegation_id or d.status is not DelegationStatus.ACTIVE:
                return False
        try:
            ensure_open_for_entry(loaded.cycle, loaded.ret, self.clock.now())
        except Conflict:
            return False
        return True

    async def list_for(
        self, principal: Principal, cycle: str | None, organisation_id: str | None
    ) -> list[dict[str, Any]]:
        group = None
        if not principal.has(Role.NATIONAL_ADMIN, Role.AUDITOR):
            if organisation_id not in (None, principal.organisation_id):
                raise NotFound(f"no organisation {organisation_id}")
            organisation_id = principal.organisation_id
            if not principal.has(Role.MAPPING_LEAD):
                group = principal.group_id or "-"
        elif organisation_id is None and cycle is None:
            raise InvalidInput.field("cycle", "give a cycle or an organisation to list")
        items = await self.repo.search(cycle, organisation_id, group)
        return [self.summary(q) for q in items]

    def summary(self, q: Questionnaire) -> dict[str, Any]:
        definition = self.catalogue.get(q.definition)
        out: dict[str, Any] = {
            "id": q.id,
            "cycle": q.cycle,
            "organisation_id": q.organisation_id,
            "title": q.title,
            "definition": q.definition,
            "kind": definition.kind.value,
            "subject": {"kind": q.subject_kind.value, "id": q.subject_id},
            "group_id": q.group_id,
            "status": q.status.value,
            "version": q.version,
            "delegated_to": q.delegation.email
            if q.delegation and q.delegation.status is DelegationStatus.ACTIVE
            else None,
        }
        scorecard = grades(definition, q.answers)
        if scorecard is not None:
            out["overall_grade"] = scorecard.overall.value if scorecard.overall else None
        return out

    async def history(self, caller: Caller, questionnaire_id: str) -> list[dict[str, Any]]:
        """Every change to the questionnaire, oldest first (`ensure_history_access`)."""
        ensure_history_access(caller, await self.repo.load(questionnaire_id))
        return [
            {
                "version": e.stream_version,
                "event": e.type.split(".", 1)[1],
                "occurred_at": e.occurred_at.isoformat(),
                "actor": e.actor,
                **{
                    k: v
                    for k, v in e.data.items()
                    if k not in ("organisation_id", "cycle", "questionnaire_id", "answers")
                },
            }
            for e in await self.repo.events(questionnaire_id)
        ]

    async def delegations(self, caller: Caller, questionnaire_id: str) -> list[DelegationRecord]:
        """Every delegation of the questionnaire, oldest first."""
        await self.load(caller, questionnaire_id)
        return await self.repo.delegations(questionnaire_id)

    # --- writing -------------------------------------------------------------------------------

    async def commit(
        self,
        loaded: Loaded,
        events: list[EventPayload],
        context: AppendContext,
        *,
        check_window: bool = True,
    ) -> Questionnaire:
        """Append a decision's events at the version it was made from (after checking the
        entry window): the questionnaire after, or 409 saying what changed meanwhile."""
        q = loaded.questionnaire
        if check_window:
            ensure_open_for_entry(loaded.cycle, loaded.ret, self.clock.now())
        if not events:
            return q
        try:
            after, _ = await self.repo.save(q, events, context, self.clock.now())
        except ConcurrencyConflict:
            raise await self.stale(q.id, q.version) from None
        return after

    async def stale(self, questionnaire_id: str, since: int) -> Conflict:
        """409 saying what changed since the version the caller had."""
        details: list[dict[str, Any]] = []
        for e in await self.repo.events(questionnaire_id, since):
            event = e.type.split(".", 1)[1]
            payload = decode_event(e).payload  # through the contract's upcasters
            if isinstance(payload, AnswersSavedV2):
                details.extend(
                    {
                        "field": c.question,
                        "event": event,
                        "old": c.old,
                        "new": c.new,
                        "by": e.actor,
                        "at": e.occurred_at.isoformat(),
                        "version": e.stream_version,
                    }
                    for c in payload.changes
                )
            else:
                details.append(
                    {
                        "field": None,
                        "event": event,
                        "by": e.actor,
                        "at": e.occurred_at.isoformat(),
                        "version": e.stream_version,
                    }
                )
        return Conflict(
            f"questionnaire {questionnaire_id} changed since version {since}: "
            "review the changes and save again",
            details=details,
        )

    async def save(
        self,
        caller: Caller,
        questionnaire_id: str,
        expected_version: int | None,
        changes: Mapping[str, Any],
        context: AppendContext,
    ) -> tuple[Loaded, list[str]]:
        """Save answers; the questionnaire after, and the questions whose answers changed."""
        loaded = await self.load(caller, questionnaire_id, write=True)
        q = loaded.questionnaire
        if expected_version is None:
            raise InvalidInput.field(
                "version", "say which version you are changing (from the questionnaire you read)"
            )
        if expected_version != q.version:
            raise await self.stale(q.id, expected_version)
        ensure_open_for_entry(loaded.cycle, loaded.ret, self.clock.now())
        definition = self.catalogue.get(q.definition)
        delegation_id = caller.delegation_id if isinstance(caller, Delegate) else None
        try:
            events, _ = decide.save_answers(q, definition, changes, delegation_id=delegation_id)
        except AnswerError as exc:
            raise InvalidInput(
                str(exc),
                details=[{"field": p.question, **p.as_dict()} for p in exc.problems],
            ) from None
        after = await self.commit(loaded, events, context)
        if events:  # appended and committed (a save that changes nothing appends nothing)
            self.activity.saved()
        changed = [c.question for e in events for c in getattr(e, "changes", [])]
        return loaded.with_questionnaire(after), changed

    async def submit(
        self, principal: Principal, questionnaire_id: str, context: AppendContext
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        q = loaded.questionnaire
        ensure_open_for_entry(loaded.cycle, loaded.ret, self.clock.now())
        events = decide.submit(q, self.catalogue.get(q.definition), principal.actor)
        after = await self.commit(loaded, events, context)
        if events:
            self.activity.submitted()
        return loaded.with_questionnaire(after)

    async def withdraw_submission(
        self, principal: Principal, questionnaire_id: str, reason: str, context: AppendContext
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        events = decide.withdraw_submission(loaded.questionnaire, reason)
        return loaded.with_questionnaire(await self.commit(loaded, events, context))

    async def delegate(
        self,
        principal: Principal,
        questionnaire_id: str,
        email: str,
        message: str | None,
        context: AppendContext,
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        q = loaded.questionnaire
        expires = entry_ends(loaded.cycle, loaded.ret)
        if expires <= self.clock.now():
            raise Conflict(f"data entry for {q.cycle} has closed: there is nothing to delegate")
        events = decide.delegate(q, email, principal.actor, expires, message, q.title)
        return loaded.with_questionnaire(await self.commit(loaded, events, context))

    async def revoke(
        self,
        principal: Principal,
        questionnaire_id: str,
        delegation_id: str,
        reason: str | None,
        context: AppendContext,
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        events = decide.revoke(loaded.questionnaire, delegation_id, reason)
        after = await self.commit(loaded, events, context, check_window=False)
        return loaded.with_questionnaire(after)

    async def accept(
        self, principal: Principal, questionnaire_id: str, delegation_id: str, ctx: AppendContext
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        events = decide.accept(loaded.questionnaire, delegation_id)
        return loaded.with_questionnaire(await self.commit(loaded, events, ctx))

    async def send_back(
        self,
        principal: Principal,
        questionnaire_id: str,
        delegation_id: str,
        comment: str,
        context: AppendContext,
    ) -> Loaded:
        loaded = await self.load(principal, questionnaire_id, write=True)
        events = decide.send_back(loaded.questionnaire, delegation_id, comment)
        return loaded.with_questionnaire(await self.commit(loaded, events, context))

    # --- delegates -----------------------------------------------------------------------------

    async def delegate_for(
        self, token: str | None, questionnaire_id: str | None = None
    ) -> Delegate:
        """The delegate a link's token stands for; 404 for a token that is not genuine or is
        for another questionnaire, 410 for one that was revoked, replaced, accepted or expired."""
        if not token or self.links is None:
            raise NotFound("no questionnaire for this link")
        ids = self.links.read_delegation(token)
        if ids is None or (questionnaire_id is not None and ids[0] != questionnaire_id):
            raise NotFound(f"no questionnaire {questionnaire_id or ''} for this link".strip())
        qid, delegation_id = ids
        record = await self.repo.delegation(delegation_id)
        if record is None or record.questionnaire_id != qid:
            raise NotFound("no questionnaire for this link")
        if record.status == DelegationStatus.REVOKED.value:
            raise Gone("this link was withdrawn by the mapping lead; ask them for a new one")
        if record.status == DelegationStatus.ACCEPTED.value:
            raise Gone("the mapping lead has accepted this questionnaire: the link has closed")
        if record.expires_at <= self.clock.now():
            raise Gone(
                f"this link expired at {record.expires_at.isoformat()}, when data entry closed"
            )
        return Delegate(qid, delegation_id, record.email)

    async def return_to_lead(
        self, delegate: Delegate, comment: str | None, context: AppendContext
    ) -> Loaded:
        loaded = await self.load(delegate, delegate.questionnaire_id, write=True)
        events = decide.return_to_lead(loaded.questionnaire, delegate.delegation_id, comment)
        return loaded.with_questionnaire(await self.commit(loaded, events, context))
