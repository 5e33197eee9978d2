"""The progress projection's rule warnings: for each questionnaire's latest submission, the
cross-field rules its submitted answers break (`domain.rules`, worked out here in SQL by the
same rules, so a rebuild and an as-at replay need no Python per event).

One row per questionnaire of a definition that has rules, replaced by each later submission;
the data-quality report counts those whose standing submission broke a rule. A number is
what `domain.rules.number` takes for one (plain decimal text or a JSON number, an exponent of
at most three digits); anything else is no answer, as there."""

from __future__ import annotations

from ..domain.rules import RULES, Rule

SUBMITTED = "questionnaire.ResponseSubmitted"

DDL = """
CREATE TABLE prog_rule_warnings (
    questionnaire_id text PRIMARY KEY,
    cycle            text NOT NULL,
    organisation_id  text NOT NULL,
    definition       text NOT NULL,
    submitted_seq    bigint NOT NULL,
    -- The rules the latest submission's answers break (empty when none).
    rules            text[] NOT NULL
);
"""

_NUMBER = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$"


def _n(question: str) -> str:
    value = f"(a.answers->>'{question}')"
    return f"(CASE WHEN {value} ~ '{_NUMBER}' THEN {value}::numeric END)"


def _check(rule: Rule) -> str:
    if rule.kind == "sum_equals":
        assert rule.total is not None
        parts = " + ".join(f"coalesce({_n(p)}, 0)" for p in rule.parts)
        total = _n(rule.total)
        return f"CASE WHEN {total} IS NOT NULL AND {parts} <> {total} THEN '{rule.id}' END"
    assert rule.left is not None and rule.right is not None
    return f"CASE WHEN {_n(rule.left)} > {_n(rule.right)} THEN '{rule.id}' END"


def _broken() -> str:
    cases = " ".join(
        f"WHEN '{definition}' THEN array_remove(ARRAY[{', '.join(_check(r) for r in rules)}]"
        "::text[], NULL)"
        for definition, rules in RULES.items()
    )
    return f"CASE split_part(j.data->>'definition', '@', 1) {cases} END"


_WITH_RULES = ", ".join(f"'{d}'" for d in RULES)

STATEMENT = f"""
INSERT INTO prog_rule_warnings AS w (questionnaire_id, cycle, organisation_id, definition,
                                     submitted_seq, rules)
SELECT DISTINCT ON (j.data->>'questionnaire_id')
       j.data->>'questionnaire_id', j.data->>'cycle', j.key, j.data->>'definition', j.seq,
       {_broken()}
  FROM journal j
 CROSS JOIN LATERAL (SELECT j.data->'answers' AS answers OFFSET 0) a
 WHERE j.seq > $1 AND j.seq <= $2 AND j.type = '{SUBMITTED}'
   AND split_part(j.data->>'definition', '@', 1) IN ({_WITH_RULES})
 ORDER BY j.data->>'questionnaire_id', j.seq DESC
ON CONFLICT (questionnaire_id) DO UPDATE
   SET submitted_seq = EXCLUDED.submitted_seq, definition = EXCLUDED.definition,
       rules = EXCLUDED.rules
"""
