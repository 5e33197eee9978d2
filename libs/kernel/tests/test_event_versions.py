"""AnswersSaved v2 beside v1: read through the upcaster, written as v1 while pinned
(docs/contracts.md, "Versioning an event")."""

from __future__ import annotations

import pytest

from csm_contracts.compat import breaking_changes, breaking_changes_between
from csm_contracts.events.responses import AnswerChange, AnswersSaved, AnswersSavedV2
from csm_contracts.registry import UnknownEventType
from csm_contracts.schemas import committed_schemas, current_schemas
from csm_kernel.event_sourcing import decode_payload
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from csm_kernel.upcasting import DEFAULT_WRITE_VERSIONS, UPCASTERS, WriteVersions

SAVED = "questionnaire.AnswersSaved"


def saved(answered: int | None = 7) -> AnswersSavedV2:
    return AnswersSavedV2(
        organisation_id="RX1",
        cycle="2009-10",
        questionnaire_id="q1",
        changes=[AnswerChange(question="staff", old=None, new=12)],
        delegation_id="d1",
        via="delegate",
        answered=answered,
    )


def test_a_stored_v1_event_is_read_as_v2_with_answered_unknown() -> None:
    v1 = AnswersSaved(**saved().model_dump(exclude={"answered"}))
    payload = decode_payload(SAVED, 1, v1.model_dump(mode="json"))
    assert payload == saved(answered=None)
    assert UPCASTERS.upcast_data(SAVED, 2, {"x": 1}) == (2, {"x": 1})  # v2 is left alone


async def test_unpinned_v2_is_written_and_read_back_as_it_was() -> None:
    new = NewEvent.from_payload(saved(), WriteVersions({}))
    assert (new.type, new.version, new.data["answered"]) == (SAVED, 2, 7)
    (stored,) = await InMemoryEventStore().append("s", 0, [new], AppendContext("t"))
    assert decode_payload(stored.type, stored.version, stored.data) == saved()


def test_pinned_to_v1_the_new_code_writes_what_the_old_code_reads() -> None:
    new = NewEvent.from_payload(saved(), WriteVersions(DEFAULT_WRITE_VERSIONS))
    assert (new.type, new.version) == (SAVED, 1)
    assert "answered" not in new.data
    # Exactly what the v1 model writes, so a reader that knows only v1 reads it.
    assert new.data == AnswersSaved.model_validate(new.data).model_dump(mode="json")
    # Other events are written at their own version.
    assert WriteVersions(DEFAULT_WRITE_VERSIONS).written(AnswersSaved(**new.data))[0] == 1


def test_the_setting_moves_or_lifts_a_pin_and_refuses_what_it_cannot_read() -> None:
    defaults = {SAVED: 1}
    assert WriteVersions.from_setting(None, defaults).pins == {SAVED: 1}
    assert WriteVersions.from_setting(f"{SAVED}=2", defaults).pins == {SAVED: 2}
    assert WriteVersions.from_setting(f" {SAVED}=latest ,", defaults).pins == {}
    with pytest.raises(ValueError, match=r"'questionnaire\.AnswersSaved' is not"):
        WriteVersions.from_setting(SAVED, defaults)
    with pytest.raises(ValueError, match="'x=two' is not"):
        WriteVersions.from_setting("x=two", defaults)
    with pytest.raises(UnknownEventType, match="AnswersSaved v9"):
        WriteVersions.from_setting(f"{SAVED}=9", defaults)


def test_v2_is_a_new_version_because_it_would_break_v1_and_the_check_accepts_it() -> None:
    # Added to v1 in place, a required field would break every stored v1 event ...
    problems = breaking_changes(
        AnswersSaved.model_json_schema(), AnswersSavedV2.model_json_schema()
    )
    assert problems == ["answered: is required now but was not (old events lack it)"]
    # ... beside it, as a new version, the committed schemas only grow.
    assert breaking_changes_between(committed_schemas(), current_schemas()) == []
    assert "questionnaire.AnswersSaved.v2.json" in committed_schemas()


def test_answers_brought_in_from_last_year_say_so_in_either_version() -> None:
    # Both branches added to AnswersSaved at once (v2's `answered`, and `brought_in_from`);
    # written as v1 while pinned or as v2, read back, the history still says where from.
    from csm_contracts.events.responses import BroughtIn

    brought = saved().model_copy(
        update={"brought_in_from": BroughtIn(cycle="2008-09", questionnaire_id="q0")}
    )
    for pins in (DEFAULT_WRITE_VERSIONS, {}):
        version, data = WriteVersions(pins).written(brought)
        assert data["brought_in_from"] == {"cycle": "2008-09", "questionnaire_id": "q0"}
        read = decode_payload(SAVED, version, data)
        assert isinstance(read, AnswersSavedV2) and read.brought_in_from == brought.brought_in_from
