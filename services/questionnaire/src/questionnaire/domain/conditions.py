"""`show_if` conditions: a small, safe expression language over earlier answers.

Parsed with Python's `ast` (never `eval`) and accepted only if every node is on a short list:
`and`, `or`, `not`, comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`), question ids
as names, and literals (numbers, strings, `true`/`false`/`null` or Python's spelling, lists).
Anything else (calls, attributes, subscripts, arithmetic, lambdas…) is refused when the
definition is loaded, with the reason. An unanswered question compares as `null`, and an
ordering comparison with `null` is false (a follow-up stays hidden until its trigger is answered).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_LITERAL_NAMES = {"true": True, "false": False, "null": None}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class ConditionError(ValueError):
    """A condition that is not in the language, or names an unknown question."""


@dataclass(frozen=True)
class Condition:
    """A checked condition: `evaluate(answers)` and the question ids it reads."""

    source: str
    tree: ast.expr
    references: frozenset[str]

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return bool(_eval(self.tree, answers))


def parse(source: str, known_questions: set[str] | None = None) -> Condition:
    """Check and compile a condition; `ConditionError` says what is wrong."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConditionError(f"not a condition: {exc.msg}") from None
    references: set[str] = set()
    _check(tree, references)
    if known_questions is not None:
        unknown = sorted(references - known_questions)
        if unknown:
            raise ConditionError(f"refers to unknown question(s): {', '.join(unknown)}")
    return Condition(source, tree, frozenset(references))


def _check(node: ast.expr, references: set[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, references)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, references)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if not (isinstance(node.operand, ast.Constant) and _is_number(node.operand.value)):
            raise ConditionError("minus goes only before a number")
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConditionError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left, references)
        for comparator in node.comparators:
            _check(comparator, references)
    elif isinstance(node, ast.Name):
        if node.id not in _LITERAL_NAMES:
            references.add(node.id)
    elif isinstance(node, ast.Constant):
        if not (node.value is None or isinstance(node.value, str | bool) or _is_number(node.value)):
            raise ConditionError(f"literal {node.value!r} is not allowed")
    elif isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            if not isinstance(element, ast.Constant | ast.UnaryOp):
                raise ConditionError("a list holds only literals")
            _check(element, references)
    else:
        raise ConditionError(f"{type(node).__name__} is not allowed in a condition")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _eval(node: ast.expr, answers: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, answers) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, answers)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.Compare):
        left = _eval(node.left, answers)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, answers)
            if isinstance(op, _ORDERING) and (left is None or right is None):
                return False
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:  # e.g. a number against text: not a match
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        if node.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[node.id]
        return answers.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, answers) for e in node.elts]
    raise ConditionError(f"{type(node).__name__} is not allowed")  # checked at parse time


def cycle_in(dependencies: Mapping[str, frozenset[str]]) -> list[str] | None:
    """A cycle among `show_if` dependencies (question -> questions its condition reads), as a
    path that returns to its start, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(q: str) -> list[str] | None:
        state[q] = 1
        path.append(q)
        for dep in sorted(dependencies.get(q, frozenset())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[q] = 2
        return None

    for question in sorted(dependencies):
        if question not in state and (found := visit(question)):
            return found
    return None
