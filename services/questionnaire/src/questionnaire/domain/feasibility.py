"""Can a `show_if` condition ever be true, given what its questions accept?

A condition comparing a question with a value it can never hold (a choice that is not among
its options, a yes/no with text, a number outside its bounds) would hide its follow-up for
ever: an author's mistake we catch when the definition loads. The check is conservative: it
only reports what is certainly never true (`not`, and comparisons between two questions, are
assumed possible).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conditions import Condition
    from .definition import Question

_FLIP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


def never_true(condition: Condition, questions: Mapping[str, Question]) -> str | None:
    """Why `condition` can never be true, or None if it may be."""
    return _never(condition.tree, questions)


def _never(node: ast.expr, questions: Mapping[str, Question]) -> str | None:
    if isinstance(node, ast.BoolOp):
        reasons = [_never(v, questions) for v in node.values]
        if isinstance(node.op, ast.And):
            return next((r for r in reasons if r), None)
        return "; ".join(r for r in reasons if r) if all(reasons) else None
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(left, ast.Name) and left.id in questions and _is_literal(right):
            return _compare(questions[left.id], type(op), _literal(right))
        if isinstance(right, ast.Name) and right.id in questions and _is_literal(left):
            flipped = _FLIP.get(type(op), type(op))
            if isinstance(op, ast.In | ast.NotIn):
                return _contains(questions[right.id], _literal(left), isinstance(op, ast.In))
            return _compare(questions[right.id], flipped, _literal(left))
    return None


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return True
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        return True  # a negative number (`not 1` is not a literal: it is left alone)
    return isinstance(node, ast.List | ast.Tuple) and all(_is_literal(e) for e in node.elts)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name):
        return {"true": True, "false": False, "null": None}[node.id]
    if isinstance(node, ast.UnaryOp):
        return -_literal(node.operand)
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    assert isinstance(node, ast.Constant)
    return node.value


def _possible_values(q: Question) -> set[Any] | None:
    """Every value a question's answer compares as, when that set is finite."""
    from .definition import QuestionType

    if q.type is QuestionType.SINGLE_CHOICE:
        return set(q.option_values)
    if q.type is QuestionType.YES_NO:
        return {True, False}
    if q.type is QuestionType.SCORED_SCALE:
        return set(q.levels)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds(q: Question) -> tuple[Any, Any] | None:
    from .definition import NUMERIC, QuestionType

    if q.type is QuestionType.SCORED_SCALE:
        return min(q.levels), max(q.levels)
    if q.type in NUMERIC:
        return q.min, q.max
    return None


def _compare(q: Question, op: type[ast.cmpop], value: Any) -> str | None:
    if value is None:
        return None  # comparing with null asks "unanswered?": always possible
    if op is ast.Eq:
        return _can_equal(q, value)
    if op in (ast.In, ast.NotIn):
        if op is ast.In and isinstance(value, list):
            reasons = [_can_equal(q, v) for v in value]
            return "; ".join(r for r in reasons if r) if all(reasons) else None
        return None
    if op in _FLIP:
        bounds = _bounds(q)
        if bounds is None:
            from .definition import QuestionType

            if q.type is QuestionType.DATE:
                return None
            return f"{q.id} is a {q.type.value}, not a number to compare with {value!r}"
        if not _is_number(value):
            return f"{q.id} is a number, compared here with {value!r}"
        low, high = bounds
        if (op is ast.Gt and high is not None and high <= value) or (
            op is ast.GtE and high is not None and high < value
        ):
            return f"{q.id} is never above {high}"
        if (op is ast.Lt and low is not None and low >= value) or (
            op is ast.LtE and low is not None and low > value
        ):
            return f"{q.id} is never below {low}"
    return None


def _can_equal(q: Question, value: Any) -> str | None:
    from .definition import QuestionType

    if value is None:
        return None  # "unanswered?": always possible
    if isinstance(value, list):
        if q.type is QuestionType.MULTIPLE_CHOICE:
            # Stored choices are distinct options in the options' order: only such a list matches.
            if value == [o.value for o in q.options if o.value in value]:
                return None
            return f"{q.id} is never {value!r} (its choices are kept in the options' order)"
        return f"{q.id} is a {q.type.value}, never a list like {value!r}"
    possible = _possible_values(q)
    if possible is not None:
        if q.type is QuestionType.YES_NO and not isinstance(value, bool):
            return f"{q.id} is answered true or false, never {value!r}"
        if value not in possible or (isinstance(value, bool) and q.type is not QuestionType.YES_NO):
            shown = ", ".join(repr(v) for v in sorted(possible, key=str))
            return f"{q.id} is never {value!r} (it can be {shown})"
        return None
    bounds = _bounds(q)
    if bounds is not None:
        if not _is_number(value):
            return f"{q.id} is a number, never {value!r}"
        low, high = bounds
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{q.id} is never {value!r} (outside {low} to {high})"
    if q.type is QuestionType.MULTIPLE_CHOICE:
        return f"{q.id} holds a list of choices: test one with `'value' in {q.id}`"
    return None


def _contains(q: Question, value: Any, positive: bool) -> str | None:
    from .definition import QuestionType

    if q.type is QuestionType.MULTIPLE_CHOICE:
        if positive and (not isinstance(value, str) or value not in q.option_values):
            return f"{value!r} is not an option of {q.id}"
        return None
    if q.type is QuestionType.TEXT:
        return None
    if positive:
        return f"{q.id} is a {q.type.value}, not a list to look in"
    return None
