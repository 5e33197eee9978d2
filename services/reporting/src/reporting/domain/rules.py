"""The questionnaires' cross-field rules, as reporting checks them in submitted answers.

No event records the rule warnings a questionnaire showed (the questionnaire service works them
out on every save and refuses a submission that breaks a rule, DESIGN §6), so reporting works
them out again from the answers each `ResponseSubmitted` carries (its effective answers: the
shown, non-empty ones the service checked). A submission that breaks a rule is one the service
would refuse today: an older definition or service version let it through, or it was imported.

Copied from the definition files in services/questionnaire/src/questionnaire/definitions/
(`rules:`), as `measures` copies question ids; tests/test_rule_warnings.py fails when a
definition's rules and these differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .measures import (
    CHILDRENS_TRUST,
    FUNDING_SOURCES,
    INVESTMENT_TOTAL,
    PROFESSIONS,
    SERVICE,
    WTE_TOTAL,
)


@dataclass(frozen=True)
class Rule:
    """`sum_equals`: the answered `parts` add up to `total` (when the total is answered);
    `less_or_equal`: `left` is at most `right` (when both are answered)."""

    id: str
    kind: str
    parts: tuple[str, ...] = ()
    total: str | None = None
    left: str | None = None
    right: str | None = None


#: The rules of each definition (by its id, without the version).
RULES: dict[str, tuple[Rule, ...]] = {
    SERVICE: (
        Rule("workforce_adds_up", "sum_equals", tuple(q for q, _ in PROFESSIONS), WTE_TOTAL),
        Rule(
            "investment_adds_up",
            "sum_equals",
            tuple(q for q, _ in FUNDING_SOURCES),
            INVESTMENT_TOTAL,
        ),
        Rule(
            "looked_after_not_above_caseload",
            "less_or_equal",
            left="caseload_looked_after",
            right="caseload_total",
        ),
    ),
    CHILDRENS_TRUST: (
        Rule(
            "pooled_contributions_add_up",
            "sum_equals",
            ("pooled_la", "pooled_pct", "pooled_other"),
            "pooled_total",
        ),
    ),
}


def number(value: Any) -> Decimal | None:
    """An answer as an exact number (money comes as text, "1234.00"); None if it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def broken(definition: str, answers: Mapping[str, Any]) -> list[str]:
    """The ids of the rules of `definition` ("service" or "service@1") that `answers` break.
    An answer that is not a number counts as no answer (the service would not have taken it)."""
    out = []
    for rule in RULES.get(definition.split("@")[0], ()):
        if rule.kind == "sum_equals":
            total = number(answers.get(rule.total)) if rule.total else None
            if total is None:
                continue
            parts = [number(answers.get(p)) for p in rule.parts]
            if sum((p for p in parts if p is not None), Decimal(0)) != total:
                out.append(rule.id)
        else:
            left = number(answers.get(rule.left)) if rule.left else None
            right = number(answers.get(rule.right)) if rule.right else None
            if left is not None and right is not None and left > right:
                out.append(rule.id)
    return out
