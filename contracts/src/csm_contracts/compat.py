"""Schema evolution rules: a published schema only grows.

Breaking: an event (schema file) disappears; a property is removed, renamed or retyped; a
property becomes required that was not; an enum loses a value; a constraint tightens (a smaller
maximum, a larger minimum, a changed pattern), so that an event valid before is invalid now.
These rules apply at every depth: nested models, list items, dict values and both sides of an
optional (`X | None`). Additive: new optional properties, new enum values, new events, new
versions beside old ones (with an upcaster in the kernel).

The comparison reads JSON Schemas as pydantic writes them (`$ref` into `$defs`, `anyOf` for
unions); a type is described in the problem messages as e.g. `string`, `string(date-time)`,
`integer`, `enum<string>`, `array<object>`, `map<string>` or `null | string`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


@dataclass
class _Walk:
    old_root: dict[str, Any]
    new_root: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    active: set[tuple[int, int]] = field(default_factory=set)


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """The schema a `$ref` (or a one-element `allOf` wrapper) points at; itself otherwise."""
    for _ in range(64):  # a chain of references, never a cycle of them
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            schema = root.get("$defs", {}).get(ref.split("/")[-1], {})
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            schema = all_of[0]
            continue
        return schema
    return {}


def _union(schema: dict[str, Any]) -> list[Any] | None:
    branches = schema.get("anyOf", schema.get("oneOf"))
    return branches if isinstance(branches, list) else None


def _type_signature(schema: Any, root: dict[str, Any], depth: int = 0) -> str:
    """A readable description of a schema's type; objects with properties are just `object`."""
    if depth > 32:  # a recursive type alias
        return "..."
    s = _resolve(schema, root)
    branches = _union(s)
    if branches is not None:
        return " | ".join(sorted({_type_signature(b, root, depth + 1) for b in branches}))
    json_type = s.get("type")
    if isinstance(json_type, list):
        return " | ".join(sorted(str(t) for t in json_type))
    if "const" in s:
        return f"const {json.dumps(s['const'], sort_keys=True)}"
    if "enum" in s:
        return f"enum<{json_type or 'any'}>"
    if json_type == "array":
        return f"array<{_type_signature(s.get('items', {}), root, depth + 1)}>"
    if json_type == "object" and "properties" not in s:
        values = s.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"map<{_type_signature(values, root, depth + 1)}>"
        return "object"
    if json_type is None:
        return "object" if "properties" in s else "any"
    fmt = s.get("format")
    return f"{json_type}({fmt})" if fmt else str(json_type)


def _where(path: str) -> str:
    return path or "(root)"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _compare_constraints(path: str, old: dict[str, Any], new: dict[str, Any], walk: _Walk) -> None:
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            walk.problems.append(
                f"{_where(path)}: {key} raised from {old.get(key)} to {new[key]}"
                " (old events may be invalid now)"
            )
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            walk.problems.append(
                f"{_where(path)}: {key} lowered from {old.get(key)} to {new[key]}"
                " (old events may be invalid now)"
            )
    if "pattern" in new and old.get("pattern") != new["pattern"]:
        walk.problems.append(
            f"{_where(path)}: pattern changed from {old.get('pattern')!r} to {new['pattern']!r}"
            " (old events may not match it)"
        )


def _compare(path: str, old_schema: Any, new_schema: Any, walk: _Walk) -> None:
    old = _resolve(old_schema, walk.old_root)
    new = _resolve(new_schema, walk.new_root)
    pair = (id(old), id(new))
    if pair in walk.active:  # a recursive model: this pair is being compared further up
        return
    walk.active.add(pair)
    try:
        _compare_resolved(path, old, new, walk)
    finally:
        walk.active.discard(pair)


def _compare_resolved(path: str, old: dict[str, Any], new: dict[str, Any], walk: _Walk) -> None:
    old_sig = _type_signature(old, walk.old_root)
    new_sig = _type_signature(new, walk.new_root)
    if old_sig != new_sig:
        walk.problems.append(f"{_where(path)}: type changed from {old_sig} to {new_sig}")
        return

    _compare_constraints(path, old, new, walk)

    if isinstance(old.get("enum"), list) and isinstance(new.get("enum"), list):
        gone = [v for v in old["enum"] if v not in new["enum"]]
        if gone:
            walk.problems.append(f"{_where(path)}: enum values removed: {sorted(gone, key=str)}")

    old_branches, new_branches = _union(old), _union(new)
    if old_branches is not None and new_branches is not None:
        # Same signature, so the branches pair up by their own signatures.
        by_sig: dict[str, list[Any]] = {}
        for branch in new_branches:
            by_sig.setdefault(_type_signature(branch, walk.new_root), []).append(branch)
        for branch in old_branches:
            candidates = by_sig.get(_type_signature(branch, walk.old_root), [])
            if candidates:
                _compare(path, branch, candidates.pop(0), walk)

    if "properties" in old:
        _compare_properties(path, old, new, walk)
    elif old.get("type") == "object":
        old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_values, dict) and isinstance(new_values, dict):
            _compare(f"{path}{{}}", old_values, new_values, walk)

    if old.get("type") == "array":
        _compare(f"{path}[]", old.get("items", {}), new.get("items", {}), walk)


def _compare_properties(path: str, old: dict[str, Any], new: dict[str, Any], walk: _Walk) -> None:
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        where = _join(path, name)
        if name not in new_props:
            walk.problems.append(f"{where}: removed or renamed")
            continue
        _compare(where, old_prop, new_props[name], walk)
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        walk.problems.append(
            f"{_join(path, name)}: is required now but was not (old events lack it)"
        )


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` breaks readers and writers of `old` (empty when compatible).

    Each problem is one line: the dotted path of the property (`ni51[].score` for a list item,
    `stream_heads{}` for a dict value, `(root)` for the schema itself), a colon, and what changed.
    """
    walk = _Walk(old_root=old, new_root=new)
    _compare("", old, new, walk)
    return walk.problems


def breaking_changes_between(
    committed: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[str]:
    """Every breaking change from the committed schema files to the current ones.

    Both arguments map a schema file name to its JSON Schema; each problem is prefixed with the
    file name. A file only in `current` (a new event or version) is never a problem.
    """
    problems: list[str] = []
    for name, old in sorted(committed.items()):
        if name not in current:
            problems.append(f"{name}: event removed or renamed (add a new version instead)")
            continue
        problems.extend(f"{name}: {p}" for p in breaking_changes(old, current[name]))
    return problems
