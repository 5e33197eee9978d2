"""A service in the directory: one record per service and cycle. No I/O.

The aggregate is immutable state: its pure decisions say which events a command causes
(`register`, `revise`, `withdraw`, `confirm`, `carry_forward`) and the pure `evolve` makes the
next state from an event. Every rule a single
record can check is here: ages within 0-25 and minimum not above maximum, a CAMHS tier 1-4 only
for a CAMHS service, a plausible email, organisation codes that look like codes. Whether those
organisations exist is the application's to check (it needs the event store).

Field names are the dotted paths of the HTTP body (`client_group.age_min`, `contact.email`),
so a 422 and a `ServiceRevised` change name a field the same way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from csm_contracts.events.directory import (
    CYCLE_PATTERN,
    MAX_AGE,
    MIN_AGE,
    ClientGroup,
    FieldChange,
    ServiceCarriedForward,
    ServiceConfirmed,
    ServiceContact,
    ServiceFields,
    ServiceRegistered,
    ServiceRevised,
    ServiceStatus,
    ServiceType,
    ServiceWithdrawn,
)
from csm_contracts.events.registration import ORGANISATION_CODE_PATTERN
from csm_contracts.registry import EventPayload
from csm_kernel.errors import Conflict, InvalidInput
from csm_kernel.event_sourcing import Recorded

STREAM_PREFIX = "service-"

#: Namespace of carried-forward service ids: uuid5(namespace, "<previous id>/<cycle>").
CARRY_FORWARD_NAMESPACE = uuid.UUID("6f1c0a52-4d0e-5b43-9a55-2f3b8a1c7d01")

_CYCLE = re.compile(CYCLE_PATTERN)
_CODE = re.compile(ORGANISATION_CODE_PATTERN)
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is not our business.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,18}[0-9]$")

MAX_NEEDS = 20


def stream_id_for(service_id: uuid.UUID) -> str:
    """One stream per service record: `service-<uuid>`."""
    return f"{STREAM_PREFIX}{service_id}"


def carried_forward_id(previous_service_id: uuid.UUID, cycle: str) -> uuid.UUID:
    """The id a record gets when carried into `cycle`: the same inputs, the same id, so a
    second carry-forward finds the stream already there and writes nothing."""
    return uuid.uuid5(CARRY_FORWARD_NAMESPACE, f"{previous_service_id}/{cycle}")


def cycle_problem(cycle: str) -> str | None:
    """Why `cycle` is not a cycle name like `2009-10`, or None."""
    if not _CYCLE.match(cycle):
        return f"{cycle!r} is not a cycle: use the form 2009-10"
    first, second = int(cycle[:4]), int(cycle[5:])
    if (first + 1) % 100 != second:
        return f"{cycle!r} is not a cycle: the second year must follow the first (e.g. 2009-10)"
    return None


def previous_cycle(cycle: str) -> str:
    """The cycle before `cycle` (`2010-11` -> `2009-10`)."""
    first = int(cycle[:4]) - 1
    return f"{first:04d}-{(first + 1) % 100:02d}"


def code_problem(code: str) -> str | None:
    if not (3 <= len(code) <= 5 and _CODE.match(code)):
        return (
            f"{code!r} is not an organisation code: use 3 to 5 capital letters and digits, "
            "with at least one letter (e.g. 5A4)"
        )
    return None


@dataclass(frozen=True)
class ServiceDetails:
    """What a service record says, flat; `FIELD_PATHS` names each attribute for callers."""

    name: str
    description: str
    service_type: ServiceType
    age_min: int
    age_max: int
    provider_id: str
    contact_name: str
    contact_email: str
    needs: tuple[str, ...] = ()
    camhs: bool = False
    camhs_tier: int | None = None
    group_id: str | None = None
    commissioner_ids: tuple[str, ...] = ()
    contact_phone: str | None = None

    @property
    def organisation_ids(self) -> tuple[str, ...]:
        """Every organisation the record belongs to: its provider, then its commissioners."""
        return (self.provider_id, *(c for c in self.commissioner_ids if c != self.provider_id))

    def problems(self) -> list[dict[str, str]]:
        """Every rule this record breaks, as `{"field", "reason"}` (empty when valid)."""
        out: list[dict[str, str]] = []

        def bad(attr: str, reason: str) -> None:
            out.append({"field": FIELD_PATHS[attr], "reason": reason})

        if not self.name.strip():
            bad("name", "must not be blank")
        elif len(self.name) > 200:
            bad("name", "must be at most 200 characters")
        if len(self.description) > 4000:
            bad("description", "must be at most 4000 characters")
        for attr in ("age_min", "age_max"):
            age = getattr(self, attr)
            if not MIN_AGE <= age <= MAX_AGE:
                bad(attr, f"{age} is not an age from {MIN_AGE} to {MAX_AGE} years")
        if self.age_min > self.age_max:
            bad(
                "age_min",
                f"the minimum age ({self.age_min}) is greater than the maximum ({self.age_max})",
            )
        if len(self.needs) > MAX_NEEDS:
            bad("needs", f"at most {MAX_NEEDS} needs")
        for need in self.needs:
            if not need.strip() or len(need) > 100:
                bad("needs", f"{need!r}: each need is 1 to 100 characters")
                break
        if len(set(self.needs)) != len(self.needs):
            bad("needs", "a need is listed twice")
        if self.camhs_tier is not None and not self.camhs:
            bad("camhs_tier", "a CAMHS tier is given only for a CAMHS service (camhs: true)")
        elif self.camhs_tier is not None and not 1 <= self.camhs_tier <= 4:
            bad("camhs_tier", f"{self.camhs_tier} is not a CAMHS tier: use 1, 2, 3 or 4")
        elif self.camhs and self.camhs_tier is None:
            bad("camhs_tier", "a CAMHS service needs its tier (1, 2, 3 or 4)")
        if self.group_id is not None and not 1 <= len(self.group_id.strip()) <= 64:
            bad("group_id", "a group id is 1 to 64 characters")
        if problem := code_problem(self.provider_id):
            bad("provider_id", problem)
        for i, code in enumerate(self.commissioner_ids):
            if problem := code_problem(code):
                out.append({"field": f"commissioner_ids.{i}", "reason": problem})
        if len(set(self.commissioner_ids)) != len(self.commissioner_ids):
            bad("commissioner_ids", "a commissioner is listed twice")
        if not self.contact_name.strip():
            bad("contact_name", "must not be blank")
        elif len(self.contact_name) > 200:
            bad("contact_name", "must be at most 200 characters")
        if len(self.contact_email) > 254 or not _EMAIL.match(self.contact_email):
            bad("contact_email", f"{self.contact_email!r} is not an email address")
        if self.contact_phone is not None and not _PHONE.match(self.contact_phone):
            bad(
                "contact_phone",
                f"{self.contact_phone!r} is not a phone number: digits, spaces, brackets, "
                "dashes and a leading +, 6 to 20 characters",
            )
        return out

    def check(self) -> None:
        """Raise a 422 naming every field that breaks a rule."""
        _raise_if(self.problems())

    def values(self) -> dict[str, Any]:
        """Dotted field path -> JSON value: what `ServiceRevised` compares."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[FIELD_PATHS[f.name]] = list(value) if isinstance(value, tuple) else value
        return out

    def changes_to(self, other: ServiceDetails) -> list[FieldChange]:
        """What changed from this record to `other`, field by field, in a fixed order."""
        mine, theirs = self.values(), other.values()
        return [
            FieldChange(field=path, old=mine[path], new=theirs[path])
            for path in mine
            if mine[path] != theirs[path]
        ]

    def with_changes(self, changes: Mapping[str, Any]) -> ServiceDetails:
        """A copy with some fields replaced, named by dotted path (unknown paths are a 422)."""
        updates: dict[str, Any] = {}
        for path, value in changes.items():
            attr = ATTRIBUTES.get(path)
            if attr is None:
                raise InvalidInput.field(path, "no such field of a service record")
            if attr in _TUPLES:
                value = tuple(value)
            elif attr == "service_type":
                value = ServiceType(value)
            updates[attr] = value
        return replace(self, **updates)

    def flat(self) -> dict[str, Any]:
        """Attribute -> value (lists for the tuples), in `FIELD_PATHS` order."""
        return {
            attr: list(v) if isinstance(v := getattr(self, attr), tuple) else v
            for attr in FIELD_PATHS
        }

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> ServiceDetails:
        """The details from attribute -> value (a read-model row), the inverse of `flat`."""
        args: dict[str, Any] = {attr: values[attr] for attr in FIELD_PATHS}
        for attr in _TUPLES:
            args[attr] = tuple(args[attr])
        args["service_type"] = ServiceType(args["service_type"])
        return cls(**args)

    @classmethod
    def of(cls, event: ServiceFields) -> ServiceDetails:
        return cls(
            name=event.name,
            description=event.description,
            service_type=event.service_type,
            age_min=event.client_group.age_min,
            age_max=event.client_group.age_max,
            needs=tuple(event.client_group.needs),
            camhs=event.camhs,
            camhs_tier=event.camhs_tier,
            group_id=event.group_id,
            provider_id=event.provider_id,
            commissioner_ids=tuple(event.commissioner_ids),
            contact_name=event.contact.name,
            contact_email=event.contact.email,
            contact_phone=event.contact.phone,
        )

    def event_fields(self) -> dict[str, Any]:
        """The keyword arguments of a `ServiceFields` event that carry this record."""
        return {
            "organisation_id": self.provider_id,
            "name": self.name,
            "description": self.description,
            "service_type": self.service_type,
            "client_group": ClientGroup(
                age_min=self.age_min, age_max=self.age_max, needs=list(self.needs)
            ),
            "camhs": self.camhs,
            "camhs_tier": self.camhs_tier,
            "group_id": self.group_id,
            "provider_id": self.provider_id,
            "commissioner_ids": list(self.commissioner_ids),
            "contact": ServiceContact(
                name=self.contact_name, email=self.contact_email, phone=self.contact_phone
            ),
        }


#: Attribute -> the dotted path callers use. The one list of a record's fields, in the order
#: every layer shows them (the read model's columns carry the attribute names).
FIELD_PATHS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "service_type": "service_type",
    "age_min": "client_group.age_min",
    "age_max": "client_group.age_max",
    "needs": "client_group.needs",
    "camhs": "camhs",
    "camhs_tier": "camhs_tier",
    "group_id": "group_id",
    "provider_id": "provider_id",
    "commissioner_ids": "commissioner_ids",
    "contact_name": "contact.name",
    "contact_email": "contact.email",
    "contact_phone": "contact.phone",
}
ATTRIBUTES: dict[str, str] = {path: attr for attr, path in FIELD_PATHS.items()}
#: What a search hit shows of a record's details: all but the contact.
LISTED: tuple[str, ...] = tuple(a for a in FIELD_PATHS if not a.startswith("contact_"))
_TUPLES = frozenset({"needs", "commissioner_ids"})
#: Fields a revision may clear (send null).
NULLABLE: frozenset[str] = frozenset({"camhs_tier", "group_id", "contact.phone"})


@dataclass(frozen=True)
class ServiceRecord:
    """A service record as its events have made it (immutable: `evolve` makes the next one).

    The methods under "decisions" are pure: state and command in, the events it causes out
    (or a domain error); they never change the record."""

    service_id: uuid.UUID
    version: int = 0
    cycle: str | None = None
    details: ServiceDetails | None = None
    status: ServiceStatus | None = None
    previous_service_id: uuid.UUID | None = None
    previous_cycle: str | None = None
    #: Last year's record as it stood when carried forward (None for a new service).
    last_year: ServiceDetails | None = None
    withdrawn_reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def stream_id(self) -> str:
        return stream_id_for(self.service_id)

    def current(self) -> ServiceDetails:
        assert self.details is not None, "the record has no events yet"
        return self.details

    # --- decisions --------------------------------------------------------------------------

    def register(self, cycle: str, details: ServiceDetails) -> list[EventPayload]:
        if self.exists:
            raise Conflict(f"service {self.service_id} already exists")
        problems = details.problems()
        if problem := cycle_problem(cycle):
            problems.insert(0, {"field": "cycle", "reason": problem})
        _raise_if(problems)
        return [
            ServiceRegistered(service_id=self.service_id, cycle=cycle, **details.event_fields())
        ]

    def revise(self, changes: Mapping[str, Any]) -> list[EventPayload]:
        """Change some fields (dotted paths). Revising a record that is to be checked also
        completes its check (status becomes active, recorded among the changes). No change at
        all causes no event."""
        current = self._open("revised")
        for path, value in changes.items():
            if value is None and path not in NULLABLE and path in ATTRIBUTES:
                raise InvalidInput.field(path, "must not be null")
        if "provider_id" in changes and changes["provider_id"] != current.provider_id:
            raise InvalidInput.field(
                "provider_id",
                "the provider of a record cannot change: withdraw it and register the service "
                "under its new provider",
            )
        revised = current.with_changes(changes)
        revised.check()
        diff = current.changes_to(revised)
        if not diff:
            return []
        if self.status is ServiceStatus.TO_BE_CHECKED:
            diff.append(
                FieldChange(field="status", old=self.status.value, new=ServiceStatus.ACTIVE.value)
            )
        return [
            ServiceRevised(
                organisation_id=current.provider_id,
                service_id=self.service_id,
                cycle=self._cycle(),
                changes=diff,
            )
        ]

    def withdraw(self, reason: str) -> list[EventPayload]:
        current = self._open("withdrawn again")
        if not reason.strip():
            raise InvalidInput.field("reason", "say why the service is withdrawn")
        if len(reason) > 1000:
            raise InvalidInput.field("reason", "must be at most 1000 characters")
        return [
            ServiceWithdrawn(
                organisation_id=current.provider_id,
                service_id=self.service_id,
                cycle=self._cycle(),
                reason=reason,
            )
        ]

    def confirm(self) -> list[EventPayload]:
        """Confirm a carried-forward record unchanged for this cycle."""
        current = self._open("confirmed")
        if self.status is not ServiceStatus.TO_BE_CHECKED:
            raise Conflict(
                f"service {self.service_id} is {self.status}: only a service to be checked "
                "is confirmed"
            )
        return [
            ServiceConfirmed(
                organisation_id=current.provider_id,
                service_id=self.service_id,
                cycle=self._cycle(),
            )
        ]

    def carry_forward(self, cycle: str) -> ServiceCarriedForward:
        """This (active) record carried into `cycle`, as the first event of its new stream."""
        current = self.current()
        if self.status is not ServiceStatus.ACTIVE:
            raise Conflict(f"service {self.service_id} is {self.status}: only active ones carry")
        return ServiceCarriedForward(
            service_id=carried_forward_id(self.service_id, cycle),
            cycle=cycle,
            previous_service_id=self.service_id,
            previous_cycle=self._cycle(),
            **current.event_fields(),
        )

    def changes_since_last_year(self) -> list[FieldChange]:
        """What differs from last year's record (empty for a service new this cycle)."""
        if self.last_year is None:
            return []
        return self.last_year.changes_to(self.current())

    def _open(self, action: str) -> ServiceDetails:
        if not self.exists:
            raise Conflict(f"service {self.service_id} does not exist")
        if self.status is ServiceStatus.WITHDRAWN:
            raise Conflict(f"service {self.service_id} is withdrawn: it cannot be {action}")
        return self.current()

    def _cycle(self) -> str:
        assert self.cycle is not None
        return self.cycle

    def after(self, events: Iterable[EventPayload]) -> ServiceRecord:
        """This record with `events` applied (this one is left as it is)."""
        record = self
        for event in events:
            record = evolve(record, event)
        return record

    @classmethod
    def from_history(cls, service_id: uuid.UUID, events: Iterable[EventPayload]) -> ServiceRecord:
        return cls(service_id=service_id).after(events)


def evolve(record: ServiceRecord | None, event: EventPayload) -> ServiceRecord:
    """The record once `event` has happened to it (`None`: before its first event)."""
    if record is None:
        service_id = getattr(event, "service_id", None)
        assert isinstance(service_id, uuid.UUID), f"{event.EVENT_TYPE} starts no service record"
        record = ServiceRecord(service_id=service_id)
    if isinstance(event, ServiceRegistered):
        record = replace(
            record,
            cycle=event.cycle,
            details=ServiceDetails.of(event),
            status=ServiceStatus.ACTIVE,
        )
    elif isinstance(event, ServiceCarriedForward):
        details = ServiceDetails.of(event)
        record = replace(
            record,
            cycle=event.cycle,
            details=details,
            last_year=details,
            status=ServiceStatus.TO_BE_CHECKED,
            previous_service_id=event.previous_service_id,
            previous_cycle=event.previous_cycle,
        )
    elif isinstance(event, ServiceRevised):
        updates = {c.field: c.new for c in event.changes if c.field != "status"}
        record = replace(record, details=record.current().with_changes(updates))
        for c in event.changes:
            if c.field == "status":
                record = replace(record, status=ServiceStatus(c.new))
    elif isinstance(event, ServiceWithdrawn):
        record = replace(record, status=ServiceStatus.WITHDRAWN, withdrawn_reason=event.reason)
    elif isinstance(event, ServiceConfirmed):
        record = replace(record, status=ServiceStatus.ACTIVE)
    return replace(record, version=record.version + 1)


def evolve_recorded(
    record: ServiceRecord | None, recorded: Recorded[EventPayload]
) -> ServiceRecord:
    """`evolve` as the kernel's repository folds a stream (at the recorded version)."""
    return replace(evolve(record, recorded.payload), version=recorded.stream_version)


def _raise_if(problems: list[dict[str, str]]) -> None:
    if problems:
        summary = "; ".join(f"{p['field']}: {p['reason']}" for p in problems)
        raise InvalidInput(f"invalid service: {summary}", details=problems)
