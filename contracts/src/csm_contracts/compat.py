"""Schema evolution rules: a published schema only grows.

Breaking: an event (schema file) disappears; a property is removed, renamed or retyped; a
property becomes required that was not. Additive: new optional properties, new events, new
versions beside old ones (with an upcaster in the kernel).
"""

from __future__ import annotations

from typing import Any


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved = root.get("$defs", {}).get(ref.split("/")[-1], {})
        return resolved if isinstance(resolved, dict) else {}
    return schema


def _type_signature(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    s = _resolve(schema, root)
    if "anyOf" in s:
        return sorted(str(_type_signature(x, root)) for x in s["anyOf"])
    if "enum" in s:
        return ("enum", s.get("type"))
    if s.get("type") == "array":
        return ("array", _type_signature(s.get("items", {}), root))
    if s.get("type") == "object" and "properties" in s:
        return "object"
    return (s.get("type"), s.get("format"))


def _compare_object(
    path: str,
    old: dict[str, Any],
    new: dict[str, Any],
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    problems: list[str],
) -> None:
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: removed or renamed")
            continue
        old_sig = _type_signature(old_prop, old_root)
        new_sig = _type_signature(new_props[name], new_root)
        if old_sig != new_sig:
            problems.append(f"{where}: type changed from {old_sig} to {new_sig}")
            continue
        old_res, new_res = _resolve(old_prop, old_root), _resolve(new_props[name], new_root)
        if "enum" in old_res and "enum" in new_res:
            gone = set(old_res["enum"]) - set(new_res["enum"])
            if gone:
                problems.append(f"{where}: enum values removed: {sorted(gone)}")
        if old_res.get("type") == "object" or "properties" in old_res:
            _compare_object(where, old_res, new_res, old_root, new_root, problems)
        if old_res.get("type") == "array":
            oi, ni = old_res.get("items", {}), new_res.get("items", {})
            if "properties" in _resolve(oi, old_root):
                _compare_object(f"{where}[]", oi, ni, old_root, new_root, problems)
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        where = f"{path}.{name}" if path else name
        problems.append(f"{where}: is required now but was not (old events lack it)")


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` breaks readers and writers of `old` (empty when compatible)."""
    problems: list[str] = []
    _compare_object("", old, new, old, new, problems)
    return problems


def breaking_changes_between(
    committed: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[str]:
    """Every breaking change from the committed schema files to the current ones."""
    problems: list[str] = []
    for name, old in committed.items():
        if name not in current:
            problems.append(f"{name}: event removed or renamed (add a new version instead)")
            continue
        problems.extend(f"{name}: {p}" for p in breaking_changes(old, current[name]))
    return problems
