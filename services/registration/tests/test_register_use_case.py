"""The registration use cases over the in-memory event store."""

from __future__ import annotations

import asyncio

import pytest

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_kernel.errors import ConcurrencyConflict, Conflict, NotFound
from csm_kernel.store import AppendContext, InMemoryEventStore
from registration.adapters.organisations_memory import InMemoryOrganisations
from registration.application.organisations import get_organisation, register_organisation
from registration.domain.commands import RegisterOrganisation
from registration.domain.organisation import stream_id_for


def _command(code: str = "RX1", name: str = "Leeds Community Healthcare") -> RegisterOrganisation:
    return RegisterOrganisation(
        code=code,
        name=name,
        kind=OrganisationKind.NHS_TRUST_COMMUNITY,
        region=Region.YORKSHIRE_AND_THE_HUMBER,
        partnership_areas=("LA383",),
    )


def _context(actor: str = "lead@example.org") -> AppendContext:
    return AppendContext(actor=actor, correlation_id="corr-123", causation_id="cause-9")


class ReadYieldingStore(InMemoryEventStore):
    """The fake store, but a read gives other tasks a turn (as a real database round trip
    does), so two registrations can both read the empty stream before either appends."""

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[EventEnvelope]:
        events = await super().read_stream(stream_id, after_version)
        await asyncio.sleep(0)
        return events


async def test_register_then_get_returns_the_organisation() -> None:
    store = InMemoryEventStore()
    repo = InMemoryOrganisations(store)

    registered = await register_organisation(repo, _command("RX1"), _context())
    fetched = await get_organisation(InMemoryOrganisations(store), "RX1")

    assert registered.version == 1
    for org in (registered, fetched):
        assert org.code == "RX1"
        assert org.version == 1
        assert org.registered
        assert org.name == "Leeds Community Healthcare"
        assert org.kind is OrganisationKind.NHS_TRUST_COMMUNITY
        assert org.region is Region.YORKSHIRE_AND_THE_HUMBER
        assert org.partnership_areas == ["LA383"]


async def test_the_stored_event_carries_the_append_context() -> None:
    store = InMemoryEventStore()
    context = _context(actor="lead@example.org")

    await register_organisation(InMemoryOrganisations(store), _command("RX1"), context)

    (event,) = await store.read_stream(stream_id_for("RX1"))
    assert event.type == OrganisationRegistered.EVENT_TYPE == "registration.OrganisationRegistered"
    assert event.version == OrganisationRegistered.VERSION
    assert event.stream_id == "organisation-RX1"
    assert event.stream_version == 1
    assert event.key == "RX1"
    assert event.actor == "lead@example.org"
    assert event.correlation_id == "corr-123"
    assert event.causation_id == "cause-9"
    assert event.position == 1
    payload = OrganisationRegistered.model_validate(event.data)
    assert payload.code == "RX1"
    assert payload.organisation_id == "RX1"
    assert payload.name == "Leeds Community Healthcare"
    assert payload.partnership_areas == ["LA383"]
    assert await store.max_position() == 1


async def test_registering_the_same_code_twice_is_a_conflict_naming_the_code() -> None:
    store = InMemoryEventStore()
    repo = InMemoryOrganisations(store)
    await register_organisation(repo, _command("RX1"), _context())

    with pytest.raises(Conflict, match="RX1") as raised:
        await register_organisation(repo, _command("RX1", name="Another Trust"), _context())

    assert raised.value.status_code == 409
    assert await store.stream_version(stream_id_for("RX1")) == 1
    # The first registration stands.
    assert (
        await get_organisation(InMemoryOrganisations(store), "RX1")
    ).name == "Leeds Community Healthcare"


async def test_different_codes_are_independent() -> None:
    store = InMemoryEventStore()

    repo = InMemoryOrganisations(store)
    await register_organisation(repo, _command("RX1"), _context())
    await register_organisation(repo, _command("RX2", name="Second Trust"), _context())

    assert (
        await get_organisation(InMemoryOrganisations(store), "RX1")
    ).name == "Leeds Community Healthcare"
    assert (await get_organisation(InMemoryOrganisations(store), "RX2")).name == "Second Trust"
    assert await store.max_position() == 2


@pytest.mark.parametrize("store_class", [InMemoryEventStore, ReadYieldingStore])
async def test_concurrent_registrations_of_one_code_exactly_one_wins(
    store_class: type[InMemoryEventStore],
) -> None:
    store = store_class()
    # Two repositories over one store: two service replicas, only the store's version check
    # stands between them.
    results = await asyncio.gather(
        register_organisation(
            InMemoryOrganisations(store), _command("RX1", name="First"), _context("a")
        ),
        register_organisation(
            InMemoryOrganisations(store), _command("RX1", name="Second"), _context("b")
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1
    (loser,) = losers
    assert isinstance(loser, Conflict)
    assert "RX1" in loser.message
    events = await store.read_stream(stream_id_for("RX1"))
    assert len(events) == 1
    assert events[0].data["name"] == winners[0].name
    assert (await get_organisation(InMemoryOrganisations(store), "RX1")).name == winners[0].name


async def test_losing_a_race_reads_as_already_registered_not_as_retry() -> None:
    """When both read the empty stream, the loser's append fails on the version check; the use
    case reports that as the code being taken (retrying could never succeed)."""
    store = ReadYieldingStore()
    # Two replicas (see above).
    results = await asyncio.gather(
        register_organisation(InMemoryOrganisations(store), _command("RX1"), _context()),
        register_organisation(InMemoryOrganisations(store), _command("RX1"), _context()),
        return_exceptions=True,
    )

    (loser,) = [r for r in results if isinstance(r, BaseException)]
    assert type(loser) is Conflict
    assert not isinstance(loser, ConcurrencyConflict)
    assert loser.message == "organisation code RX1 is already registered"


async def test_get_of_an_unknown_code_is_not_found() -> None:
    store = InMemoryEventStore()
    await register_organisation(InMemoryOrganisations(store), _command("RX1"), _context())

    with pytest.raises(NotFound, match="RX9") as raised:
        await get_organisation(InMemoryOrganisations(store), "RX9")

    assert raised.value.status_code == 404
    # Looking did not create anything.
    assert await store.max_position() == 1
    assert await store.stream_version(stream_id_for("RX9")) == 0
