"""The schema compatibility checker: what breaks old events and what only adds to them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from csm_contracts.compat import breaking_changes, breaking_changes_between
from csm_contracts.events import CycleSignedOff


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def changes(old: type[BaseModel], new: type[BaseModel]) -> list[str]:
    return breaking_changes(schema(old), schema(new))


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str
    name: str
    count: int = 0
    nickname: str | None = None


# --- breaking ---------------------------------------------------------------------------------


def test_removing_a_field_is_breaking() -> None:
    class Removed(BaseModel):
        organisation_id: str
        count: int = 0
        nickname: str | None = None

    assert changes(Base, Removed) == ["name: removed or renamed"]


def test_renaming_a_field_is_breaking() -> None:
    class Renamed(BaseModel):
        organisation_id: str
        title: str
        count: int = 0
        nickname: str | None = None

    assert changes(Base, Renamed) == [
        "name: removed or renamed",
        "title: is required now but was not (old events lack it)",
    ]


def test_renaming_an_optional_field_is_breaking() -> None:
    class Renamed(BaseModel):
        organisation_id: str
        name: str
        count: int = 0
        alias: str | None = None

    assert changes(Base, Renamed) == ["nickname: removed or renamed"]


def test_retyping_str_to_int_is_breaking() -> None:
    class Retyped(BaseModel):
        organisation_id: str
        name: int
        count: int = 0
        nickname: str | None = None

    assert changes(Base, Retyped) == ["name: type changed from string to integer"]


def test_retyping_int_to_list_is_breaking() -> None:
    class Retyped(BaseModel):
        organisation_id: str
        name: str
        count: list[int] = Field(default_factory=list)
        nickname: str | None = None

    assert changes(Base, Retyped) == ["count: type changed from integer to array<integer>"]


def test_retyping_inside_an_optional_is_breaking() -> None:
    class Retyped(BaseModel):
        organisation_id: str
        name: str
        count: int = 0
        nickname: int | None = None

    assert changes(Base, Retyped) == ["nickname: type changed from null | string to integer | null"]


def test_making_an_optional_field_non_nullable_is_breaking() -> None:
    class NotNull(BaseModel):
        organisation_id: str
        name: str
        count: int = 0
        nickname: str = ""

    assert changes(Base, NotNull) == ["nickname: type changed from null | string to string"]


def test_making_an_optional_field_required_is_breaking() -> None:
    class Required(BaseModel):
        organisation_id: str
        name: str
        count: int
        nickname: str | None = None

    assert changes(Base, Required) == ["count: is required now but was not (old events lack it)"]


def test_adding_a_required_field_is_breaking() -> None:
    class Added(BaseModel):
        organisation_id: str
        name: str
        count: int = 0
        nickname: str | None = None
        region: str

    assert changes(Base, Added) == ["region: is required now but was not (old events lack it)"]


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class FewerColours(StrEnum):
    RED = "red"
    BLUE = "blue"


class MoreColours(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"
    AMBER = "amber"


class Painted(BaseModel):
    colour: Colour
    accents: list[Colour] = Field(default_factory=list)
    trim: Colour | None = None


def test_removing_an_enum_value_is_breaking() -> None:
    class Fewer(BaseModel):
        colour: FewerColours
        accents: list[Colour] = Field(default_factory=list)
        trim: Colour | None = None

    assert changes(Painted, Fewer) == ["colour: enum values removed: ['green']"]


def test_removing_an_enum_value_in_a_list_or_an_optional_is_breaking() -> None:
    class Fewer(BaseModel):
        colour: Colour
        accents: list[FewerColours] = Field(default_factory=list)
        trim: FewerColours | None = None

    assert changes(Painted, Fewer) == [
        "accents[]: enum values removed: ['green']",
        "trim: enum values removed: ['green']",
    ]


def test_replacing_an_enum_with_a_plain_string_is_breaking() -> None:
    class Plain(BaseModel):
        colour: str
        accents: list[Colour] = Field(default_factory=list)
        trim: Colour | None = None

    assert changes(Painted, Plain) == ["colour: type changed from enum<string> to string"]


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area: str
    value: int = Field(ge=1, le=4)


class Scored(BaseModel):
    scores: list[Score] = Field(default_factory=list)
    best: Score | None = None


def test_a_field_removed_from_a_model_in_a_list_is_breaking() -> None:
    class SlimScore(BaseModel):
        area: str

    class Slim(BaseModel):
        scores: list[SlimScore] = Field(default_factory=list)
        best: Score | None = None

    assert changes(Scored, Slim) == ["scores[].value: removed or renamed"]


def test_a_field_removed_from_an_optional_nested_model_is_breaking() -> None:
    class SlimScore(BaseModel):
        area: str

    class Slim(BaseModel):
        scores: list[Score] = Field(default_factory=list)
        best: SlimScore | None = None

    assert changes(Scored, Slim) == ["best.value: removed or renamed"]


def test_a_field_removed_from_ni51_area_scores_in_cycle_signed_off_is_breaking() -> None:
    old = schema(CycleSignedOff)
    new = schema(CycleSignedOff)
    area = new["$defs"]["NI51AreaScore"]
    del area["properties"]["early_intervention"]
    area["required"].remove("early_intervention")

    assert breaking_changes(old, new) == ["ni51[].early_intervention: removed or renamed"]


def test_a_nested_field_made_required_is_breaking() -> None:
    class Optional(BaseModel):
        area: str
        note: str | None = None

    class Required(BaseModel):
        area: str
        note: str | None

    class Old(BaseModel):
        scores: list[Optional]

    class New(BaseModel):
        scores: list[Required]

    assert changes(Old, New) == ["scores[].note: is required now but was not (old events lack it)"]


def test_retyping_dict_values_is_breaking() -> None:
    class Old(BaseModel):
        heads: dict[str, str]

    class New(BaseModel):
        heads: dict[str, int]

    assert changes(Old, New) == ["heads: type changed from map<string> to map<integer>"]


def test_tightening_a_constraint_is_breaking() -> None:
    class Narrow(BaseModel):
        model_config = ConfigDict(extra="forbid")

        area: str = Field(max_length=10)
        value: int = Field(ge=1, le=3)

    class Old(BaseModel):
        scores: list[Score]

    class New(BaseModel):
        scores: list[Narrow]

    assert changes(Old, New) == [
        "scores[].area: maxLength lowered from None to 10 (old events may be invalid now)",
        "scores[].value: maximum lowered from 4 to 3 (old events may be invalid now)",
    ]


def test_changing_a_pattern_is_breaking() -> None:
    class Old(BaseModel):
        cycle: str = Field(pattern=r"^\d{4}-\d{2}$")

    class New(BaseModel):
        cycle: str = Field(pattern=r"^\d{4}$")

    [problem] = changes(Old, New)
    assert problem.startswith("cycle: pattern changed from '^\\\\d{4}-\\\\d{2}$' to")
    assert "old events may not match it" in problem


def test_removing_an_event_file_is_breaking() -> None:
    committed = {"a.Thing.v1.json": schema(Base), "a.Other.v1.json": schema(Painted)}
    current = {"a.Thing.v1.json": schema(Base)}

    assert breaking_changes_between(committed, current) == [
        "a.Other.v1.json: event removed or renamed (add a new version instead)"
    ]


def test_problems_between_files_are_prefixed_with_the_file_name() -> None:
    class Removed(BaseModel):
        organisation_id: str
        count: int = 0
        nickname: str | None = None

    assert breaking_changes_between(
        {"a.Thing.v1.json": schema(Base)}, {"a.Thing.v1.json": schema(Removed)}
    ) == ["a.Thing.v1.json: name: removed or renamed"]


def test_a_recursive_model_is_compared_without_looping() -> None:
    class Node(BaseModel):
        name: str
        children: list[Node] = Field(default_factory=list)

    class SlimNode(BaseModel):
        children: list[SlimNode] = Field(default_factory=list)

    assert changes(Node, Node) == []
    assert changes(Node, SlimNode) == ["name: removed or renamed"]


# --- not breaking -----------------------------------------------------------------------------


def test_an_identical_schema_has_no_problems() -> None:
    assert changes(Base, Base) == []
    assert breaking_changes(schema(CycleSignedOff), schema(CycleSignedOff)) == []


def test_adding_an_optional_field_is_not_breaking() -> None:
    class Grown(BaseModel):
        organisation_id: str
        name: str
        count: int = 0
        nickname: str | None = None
        note: str | None = None
        tags: list[str] = Field(default_factory=list)

    assert changes(Base, Grown) == []


def test_adding_an_optional_field_to_a_nested_model_is_not_breaking() -> None:
    class GrownScore(BaseModel):
        area: str
        value: int = Field(ge=1, le=4)
        comment: str | None = None

    class Grown(BaseModel):
        scores: list[GrownScore] = Field(default_factory=list)
        best: GrownScore | None = None

    assert changes(Scored, Grown) == []


def test_adding_an_enum_value_is_not_breaking() -> None:
    class More(BaseModel):
        colour: MoreColours
        accents: list[MoreColours] = Field(default_factory=list)
        trim: MoreColours | None = None

    assert changes(Painted, More) == []


def test_loosening_a_constraint_is_not_breaking() -> None:
    class Wider(BaseModel):
        area: str
        value: int = Field(ge=0, le=10)

    class Old(BaseModel):
        scores: list[Score]

    class New(BaseModel):
        scores: list[Wider]

    assert changes(Old, New) == []


def test_adding_an_event_is_not_breaking() -> None:
    committed = {"a.Thing.v1.json": schema(Base)}
    current = {"a.Thing.v1.json": schema(Base), "a.Thing.v2.json": schema(Painted)}

    assert breaking_changes_between(committed, current) == []
