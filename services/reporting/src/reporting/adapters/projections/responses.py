"""Questionnaire responses: each instance's latest submission, the service measures, and
the per-provider totals the area and national reports add up.

`responses` has one row per questionnaire instance (what was issued, the status and when the
last submission was made, current unless withdrawn or cancelled since). Its `answers` are kept
only for the definitions whose answers a report shows (CAMHS partnership: NI 51; Children's
Trust: the arrangements); a service submission's numbers go to `responses_service_measures`,
one narrow row per *current* service submission, taken out of the answers when it is applied.
`responses_provider_totals` adds those up per provider organisation and cycle (all its
services, and its CAMHS services alone), so an area report sums the rows of the area's few
providers instead of thousands of services; `responses_cycle_totals` adds them up nationally
per cycle. `responses_organisation_cycles` counts each organisation's questionnaires per
cycle (not cancelled, standing submitted, and its services not cancelled).
`responses_cycles` holds each cycle's previous cycle; `responses_returns` each organisation's
sign-off per cycle. Draft answers (AnswersSaved) are left out: they are most of the history
and nothing reported here depends on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...application.projection import Projection
from ...domain.measures import (
    CAMHS,
    CAMHS_PARTNERSHIP,
    CAMHS_TIER,
    CHILDRENS_TRUST,
    FUNDING_SOURCES,
    INVESTMENT_TOTAL,
    LEVEL_OF_NEED,
    PROFESSIONS,
    PROVIDER_SECTOR,
    SERVICE,
    TOTALS,
    WTE_TOTAL,
)

#: The numeric service answers copied into columns of the same name.
NUMBERS = (
    *(q for q, _ in FUNDING_SOURCES),
    INVESTMENT_TOTAL,
    *(q for q, _ in PROFESSIONS),
    WTE_TOTAL,
)
#: The definitions whose submitted answers are kept whole (a report shows them).
KEEP_ANSWERS = (CAMHS_PARTNERSHIP, CHILDRENS_TRUST)

_NUMBER_COLUMNS = ",\n".join(f"    {q} numeric" for q in NUMBERS)


# Reports add these numbers up and never select or join on them, so ANALYZE need not sort
# them (it spent most of its 1.2 s on the rebuilt measures and totals doing so).
def _no_statistics(columns: Iterable[str]) -> str:
    return ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0" for c in columns)


_NO_NUMBER_STATISTICS = _no_statistics(NUMBERS)
_NO_TOTAL_STATISTICS = _no_statistics(c for _, c, _, _ in TOTALS)
_TOTAL_COLUMNS = ",\n".join(
    f"    {column} {'int' if summed is None else 'numeric'} NOT NULL"
    for _, column, summed, _ in TOTALS
)

DDL = f"""
CREATE TABLE responses (
    questionnaire_id   text PRIMARY KEY,
    cycle              text NOT NULL,
    organisation_id    text NOT NULL,
    definition_id      text NOT NULL,
    definition_version int,
    title              text,
    subject_kind       text,
    subject_id         text,
    group_id           text,
    issued_at          timestamptz,
    -- issued, submitted, withdrawn or cancelled: the last of those events.
    status             text NOT NULL DEFAULT 'issued',
    -- The submitted answers stand (submitted, not withdrawn or cancelled since).
    current            boolean NOT NULL DEFAULT false,
    status_changed_at  timestamptz,
    status_reason      text,
    -- The last submitted answers, only for the definitions in KEEP_ANSWERS.
    answers            jsonb,
    submitted_at       timestamptz,
    submitted_by       text,
    submissions        int NOT NULL DEFAULT 0,
    scorecard_topics   jsonb,
    overall_grade      text
);
CREATE INDEX responses_by_subject ON responses (cycle, definition_id, subject_id);
CREATE INDEX responses_by_organisation ON responses (organisation_id, cycle, definition_id);

-- One row per current service submission: its classification and its numbers.
CREATE TABLE responses_service_measures (
    questionnaire_id text PRIMARY KEY,
    cycle            text NOT NULL,
    organisation_id  text NOT NULL,
    service_id       text NOT NULL,
    service_name     text,
    submitted_at     timestamptz,
    level_of_need    text,
    provider_sector  text,
    camhs            boolean NOT NULL DEFAULT false,
    camhs_tier       text,
{_NUMBER_COLUMNS}
);
ALTER TABLE responses_service_measures {_NO_NUMBER_STATISTICS};
-- The current service submissions of one provider in one cycle added up (camhs_only: its
-- CAMHS services alone). No row when there are none.
CREATE TABLE responses_provider_totals (
    organisation_id text NOT NULL,
    cycle           text NOT NULL,
    camhs_only      boolean NOT NULL,
{_TOTAL_COLUMNS},
    PRIMARY KEY (organisation_id, cycle, camhs_only)
);
ALTER TABLE responses_provider_totals {_NO_TOTAL_STATISTICS};
CREATE INDEX responses_provider_totals_by_cycle ON responses_provider_totals (cycle);

-- The same added up nationally per cycle (the sums of the providers' rows).
CREATE TABLE responses_cycle_totals (
    cycle       text NOT NULL,
    camhs_only  boolean NOT NULL,
{_TOTAL_COLUMNS},
    PRIMARY KEY (cycle, camhs_only)
);
ALTER TABLE responses_cycle_totals {_NO_TOTAL_STATISTICS};

-- Each organisation's questionnaires in a cycle: how many are not cancelled (owed), and how
-- many stand submitted. A row once anything was issued to it for the cycle.
CREATE TABLE responses_organisation_cycles (
    organisation_id text NOT NULL,
    cycle           text NOT NULL,
    owed            int NOT NULL,
    submitted       int NOT NULL,
    -- Service questionnaires not cancelled: the services mapped.
    services        int NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, cycle)
);
CREATE INDEX responses_organisation_cycles_by_cycle ON responses_organisation_cycles (cycle);

CREATE TABLE responses_cycles (
    cycle          text PRIMARY KEY,
    previous_cycle text,
    scheduled_at   timestamptz NOT NULL
);

-- Each organisation's return per cycle: signed off now, or reopened since.
CREATE TABLE responses_returns (
    organisation_id text NOT NULL,
    cycle           text NOT NULL,
    signed_off      boolean NOT NULL,
    signed_off_at   timestamptz,
    signed_off_by   text,
    ni51            jsonb,
    reopened_at     timestamptz,
    PRIMARY KEY (organisation_id, cycle)
);
"""

_IN_RANGE = "j.seq > $1 AND j.seq <= $2"
_ISSUED = "questionnaire.QuestionnaireIssued"
_SUBMITTED = "questionnaire.ResponseSubmitted"
_WITHDRAWN = "questionnaire.SubmissionWithdrawn"
_CANCELLED = "questionnaire.QuestionnaireCancelled"


# Money comes as exact text ("1234.00"), WTE as a JSON number: read as text, both are numbers.
# Anything else (never expected: answers are validated before they are submitted) becomes
# unknown rather than stopping the whole projection. One pattern match per submission checks
# all its numbers at once (`numeric_ok`); only a submission failing it is checked number by
# number.
_NUMERIC = r"-?[0-9]+(\.[0-9]+)?"
_ALL_NUMERIC = (
    f"concat_ws(',', {', '.join(f'a.{q}' for q in NUMBERS)}) ~ '^({_NUMERIC})?(,{_NUMERIC})*$'"
)


def _number(question: str) -> str:
    return (
        f"CASE WHEN p.numeric_ok OR p.{question} ~ '^{_NUMERIC}$'"
        f" THEN p.{question}::numeric END AS {question}"
    )


_MEASURES = (LEVEL_OF_NEED, PROVIDER_SECTOR, CAMHS, CAMHS_TIER, *NUMBERS)
_MEASURE_LIST = ", ".join(_MEASURES)
_MEASURE_VALUES = ",\n               ".join(_number(q) for q in NUMBERS)
_MEASURE_SETS = ", ".join(f"{q} = svc.{q}" for q in _MEASURES)
# The answers are parsed once per event into fields (read from the stored, compressed payload
# each field would decompress all of it again).
_ANSWER_FIELDS = ", ".join(
    [
        f"{LEVEL_OF_NEED} text, {PROVIDER_SECTOR} text, {CAMHS} jsonb, {CAMHS_TIER} text",
        *(f"{q} text" for q in NUMBERS),
    ]
)
_KEEP = ", ".join(f"'{d}'" for d in KEEP_ANSWERS)


def _delta(summed: str | None, category: tuple[str, str] | None) -> str:
    where = f" FILTER (WHERE n.{category[0]} = '{category[1]}')" if category else ""
    return f"coalesce(sum(n.{'sign' if summed is None else summed}){where}, 0)"


def _merged(column: str, summed: str | None) -> str:
    added = f"coalesce(p.{column}, 0) + d.{column}"
    return f"{added if summed is None else f'trim_scale({added})'} AS {column}"


# A measure taken out counts -1 and its numbers negated.
_NEGATED = ", ".join(
    [*(f"m.{q}" for q in _MEASURES if q not in NUMBERS), *(f"-m.{q}" for q in NUMBERS)]
)
_DELTA_VALUES = ",\n           ".join(
    f"{_delta(summed, category)} AS {column}" for _, column, summed, category in TOTALS
)
_MERGED_VALUES = ",\n           ".join(_merged(column, summed) for _, column, summed, _ in TOTALS)
_CYCLE_DELTA_VALUES = ", ".join(f"sum({column}) AS {column}" for _, column, _, _ in TOTALS)
_CYCLE_MERGED_VALUES = ",\n           ".join(
    _merged(column, summed) for _, column, summed, _ in TOTALS
)
_TOTAL_NAMES = ", ".join(column for _, column, _, _ in TOTALS)
_TOTAL_UPDATES = ", ".join(f"{column} = EXCLUDED.{column}" for _, column, _, _ in TOTALS)


STATEMENTS = (
    # A cycle's previous cycle, as the national team last scheduled it.
    f"""
    INSERT INTO responses_cycles (cycle, previous_cycle, scheduled_at)
    SELECT DISTINCT ON (j.data->>'cycle') j.data->>'cycle', j.data->>'previous_cycle',
           j.occurred_at
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = 'questionnaire.CycleScheduled'
     ORDER BY j.data->>'cycle', j.seq DESC
    ON CONFLICT (cycle) DO UPDATE
       SET previous_cycle = EXCLUDED.previous_cycle, scheduled_at = EXCLUDED.scheduled_at
    """,
    # One statement for the instances, the service measures, the provider totals and the
    # organisation counts, so each event is read once and each row written at most once per
    # range, however many of its events the range holds. `ev` reads each payload once, keeping
    # only its narrow parts (a service submission's measures already as numbers; answers only
    # where they are kept); `x` is each instance's outcome of the range beside its row before.
    f"""
    WITH src AS (
        -- One index range per type. A submission's payload is decompressed once (`||`): each
        -- field read from the stored, compressed value would decompress all of it again.
        SELECT j.seq, j.key, j.occurred_at, j.type, j.data || '{{}}'::jsonb AS d
          FROM journal j WHERE j.type = '{_SUBMITTED}' AND {_IN_RANGE}
        UNION ALL
        SELECT j.seq, j.key, j.occurred_at, j.type, j.data
          FROM journal j WHERE j.type = '{_ISSUED}' AND {_IN_RANGE}
        UNION ALL
        SELECT j.seq, j.key, j.occurred_at, j.type, j.data
          FROM journal j WHERE j.type = '{_WITHDRAWN}' AND {_IN_RANGE}
        UNION ALL
        SELECT j.seq, j.key, j.occurred_at, j.type, j.data
          FROM journal j WHERE j.type = '{_CANCELLED}' AND {_IN_RANGE}
        OFFSET 0
    ),
    parsed AS (
        SELECT s.seq, s.key, s.occurred_at, s.type = '{_ISSUED}' AS issued,
               s.d->>'questionnaire_id' AS qid,
               CASE s.type WHEN '{_SUBMITTED}' THEN 'submitted' WHEN '{_WITHDRAWN}'
                    THEN 'withdrawn' WHEN '{_CANCELLED}' THEN 'cancelled' END AS status,
               CASE WHEN s.type IN ('{_WITHDRAWN}', '{_CANCELLED}') THEN s.d->>'reason' END
                   AS reason,
               s.d->>'cycle' AS cycle, s.d->>'definition' AS definition,
               s.d->>'subject_kind' AS subject_kind, s.d->>'subject_id' AS subject_id,
               s.d->>'title' AS title, s.d->>'group_id' AS group_id,
               s.d->>'submitted_by' AS submitted_by,
               s.d->'scorecard'->'topics' AS topics, s.d->'scorecard'->>'overall' AS overall,
               CASE WHEN s.type = '{_SUBMITTED}'
                     AND split_part(s.d->>'definition', '@', 1) IN ({_KEEP})
                    THEN s.d->'answers' END AS answers,
               a.level_of_need, a.provider_sector,
               coalesce(a.camhs = 'true'::jsonb, false) AS camhs,
               CASE WHEN a.camhs = 'true'::jsonb THEN a.camhs_tier END AS camhs_tier,
               a.{", a.".join(NUMBERS)}, {_ALL_NUMERIC} AS numeric_ok
          FROM src s
          LEFT JOIN LATERAL jsonb_to_record(
                CASE WHEN s.type = '{_SUBMITTED}'
                      AND split_part(s.d->>'definition', '@', 1) = '{SERVICE}'
                     THEN s.d->'answers' END) AS a({_ANSWER_FIELDS}) ON true
        OFFSET 0
    ),
    ev AS MATERIALIZED (
        SELECT p.seq, p.key, p.occurred_at, p.issued, p.qid, p.status, p.reason, p.cycle,
               p.definition, p.subject_kind, p.subject_id, p.title, p.group_id,
               p.submitted_by, p.topics, p.overall, p.answers, p.level_of_need,
               p.provider_sector, p.camhs, p.camhs_tier,
               {_MEASURE_VALUES}
          FROM parsed p
    ),
    agg AS (
        SELECT e.qid, min(e.key) AS organisation_id,
               min(e.seq) FILTER (WHERE e.issued) AS issue_seq,
               max(e.seq) FILTER (WHERE e.status IS NOT NULL) AS status_seq,
               max(e.seq) FILTER (WHERE e.status = 'submitted') AS submit_seq,
               count(*) FILTER (WHERE e.status = 'submitted') AS submissions
          FROM ev e
         GROUP BY e.qid
    ),
    x AS MATERIALIZED (
        SELECT a.qid, a.submissions, o.questionnaire_id IS NOT NULL AS existed,
               coalesce(o.organisation_id, a.organisation_id) AS organisation_id,
               coalesce(o.cycle, i.cycle, b.cycle) AS cycle,
               coalesce(o.definition_id, split_part(coalesce(i.definition, b.definition), '@', 1))
                   AS definition_id,
               coalesce(i.definition, b.definition) AS definition,
               coalesce(i.subject_kind, b.subject_kind) AS subject_kind,
               coalesce(o.subject_id, i.subject_id, b.subject_id) AS subject_id,
               coalesce(o.title, i.title) AS title, i.group_id, i.occurred_at AS issued_at,
               st.status, st.occurred_at AS status_changed_at, st.reason AS status_reason,
               b.occurred_at AS submitted_at, b.submitted_by, b.answers, b.topics, b.overall,
               coalesce(o.status <> 'cancelled', false) AS was_owed,
               coalesce(o.current, false) AS was_current,
               coalesce(st.status, o.status, 'issued') <> 'cancelled' AS owed,
               coalesce(st.status, o.status) IS NOT DISTINCT FROM 'submitted' AS current,
               b.{", b.".join(_MEASURES)}
          FROM agg a
          LEFT JOIN ev i ON i.seq = a.issue_seq
          LEFT JOIN ev st ON st.seq = a.status_seq
          LEFT JOIN ev b ON b.seq = a.submit_seq
          LEFT JOIN responses o ON o.questionnaire_id = a.qid
    ),
    inserted AS (
        INSERT INTO responses (
               questionnaire_id, cycle, organisation_id, definition_id, definition_version,
               title, subject_kind, subject_id, group_id, issued_at, status, current,
               status_changed_at, status_reason, answers, submitted_at, submitted_by,
               submissions, scorecard_topics, overall_grade)
        SELECT x.qid, x.cycle, x.organisation_id, x.definition_id,
               CASE WHEN split_part(x.definition, '@', 2) ~ '^[0-9]+$'
                    THEN split_part(x.definition, '@', 2)::int END,
               x.title, x.subject_kind, x.subject_id, x.group_id, x.issued_at,
               coalesce(x.status, 'issued'), x.current, x.status_changed_at, x.status_reason,
               x.answers, x.submitted_at, x.submitted_by, x.submissions, x.topics, x.overall
          FROM x
         WHERE NOT x.existed AND x.cycle IS NOT NULL
        ON CONFLICT (questionnaire_id) DO NOTHING
        RETURNING questionnaire_id
    ),
    updated AS (
        UPDATE responses r
           SET title = coalesce(r.title, x.title),
               subject_kind = coalesce(r.subject_kind, x.subject_kind),
               subject_id = coalesce(r.subject_id, x.subject_id),
               group_id = coalesce(r.group_id, x.group_id),
               issued_at = coalesce(r.issued_at, x.issued_at),
               status = coalesce(x.status, r.status),
               current = x.current,
               status_reason = CASE WHEN x.status IS NULL THEN r.status_reason
                                    ELSE x.status_reason END,
               status_changed_at = coalesce(x.status_changed_at, r.status_changed_at),
               answers = CASE WHEN x.submitted_at IS NULL THEN r.answers ELSE x.answers END,
               submitted_at = coalesce(x.submitted_at, r.submitted_at),
               submitted_by = coalesce(x.submitted_by, r.submitted_by),
               scorecard_topics = CASE WHEN x.submitted_at IS NULL THEN r.scorecard_topics
                                       ELSE x.topics END,
               overall_grade = CASE WHEN x.submitted_at IS NULL THEN r.overall_grade
                                    ELSE x.overall END,
               submissions = r.submissions + x.submissions
          FROM x
         WHERE r.questionnaire_id = x.qid AND x.existed
           AND (x.status IS NOT NULL OR x.issued_at IS NOT NULL)
        RETURNING r.questionnaire_id
    ),
    -- How many questionnaires each organisation owes and has submitted, by difference.
    counted AS (
        INSERT INTO responses_organisation_cycles AS c (organisation_id, cycle, owed, submitted,
                                                        services)
        SELECT x.organisation_id, x.cycle,
               sum(x.owed::int - x.was_owed::int), sum(x.current::int - x.was_current::int),
               coalesce(sum(x.owed::int - x.was_owed::int)
                        FILTER (WHERE x.definition_id = '{SERVICE}'), 0)
          FROM x
         WHERE x.existed OR x.cycle IS NOT NULL
         GROUP BY x.organisation_id, x.cycle
        ON CONFLICT (organisation_id, cycle) DO UPDATE
           SET owed = c.owed + EXCLUDED.owed, submitted = c.submitted + EXCLUDED.submitted,
               services = c.services + EXCLUDED.services
    ),
    -- The service instances whose submission started or stopped standing, or was replaced. A
    -- service has a measures row exactly while its submission stands (`was_current`).
    svc AS MATERIALIZED (
        SELECT x.* FROM x
         WHERE x.status IS NOT NULL AND x.definition_id = '{SERVICE}'
           AND (x.existed OR x.cycle IS NOT NULL)
    ),
    gone AS (
        DELETE FROM responses_service_measures m
         USING svc
         WHERE m.questionnaire_id = svc.qid AND svc.was_current AND NOT svc.current
    ),
    replaced AS (
        UPDATE responses_service_measures m
           SET submitted_at = svc.submitted_at, {_MEASURE_SETS}
          FROM svc
         WHERE m.questionnaire_id = svc.qid AND svc.was_current AND svc.current
    ),
    added AS (
        INSERT INTO responses_service_measures (
               questionnaire_id, cycle, organisation_id, service_id, service_name,
               submitted_at, {_MEASURE_LIST})
        SELECT svc.qid, svc.cycle, svc.organisation_id, svc.subject_id,
               regexp_replace(svc.title, '^Service: ', ''),
               svc.submitted_at, svc.{", svc.".join(_MEASURES)}
          FROM svc
         WHERE svc.current AND NOT svc.was_current
    ),
    -- The providers' totals change by the measures put in less those taken out or replaced.
    moved AS (
        SELECT svc.organisation_id, svc.cycle, 1 AS sign, svc.{", svc.".join(_MEASURES)}
          FROM svc WHERE svc.current
        UNION ALL
        SELECT m.organisation_id, m.cycle, -1, {_NEGATED}
          FROM svc JOIN responses_service_measures m ON m.questionnaire_id = svc.qid
         WHERE svc.was_current
    ),
    delta AS (
        SELECT n.organisation_id, n.cycle, k.camhs_only,
           {_DELTA_VALUES}
          FROM moved n
          JOIN (VALUES (false), (true)) AS k(camhs_only) ON n.camhs OR NOT k.camhs_only
         GROUP BY n.organisation_id, n.cycle, k.camhs_only
    ),
    -- Exact sums, with trailing zeros trimmed so they read the same however they came about.
    merged AS MATERIALIZED (
        SELECT d.organisation_id, d.cycle, d.camhs_only,
           {_MERGED_VALUES}
          FROM delta d
          LEFT JOIN responses_provider_totals p
            ON p.organisation_id = d.organisation_id AND p.cycle = d.cycle
           AND p.camhs_only = d.camhs_only
    ),
    -- The same change to the national totals of each cycle.
    cycle_merged AS MATERIALIZED (
        SELECT d.cycle, d.camhs_only,
           {_CYCLE_MERGED_VALUES}
          FROM (SELECT cycle, camhs_only, {_CYCLE_DELTA_VALUES}
                  FROM delta GROUP BY cycle, camhs_only) d
          LEFT JOIN responses_cycle_totals p
            ON p.cycle = d.cycle AND p.camhs_only = d.camhs_only
    ),
    cycle_emptied AS (
        DELETE FROM responses_cycle_totals p
         USING cycle_merged m
         WHERE p.cycle = m.cycle AND p.camhs_only = m.camhs_only AND m.services = 0
    ),
    cycle_put AS (
        INSERT INTO responses_cycle_totals (cycle, camhs_only, {_TOTAL_NAMES})
        SELECT cycle, camhs_only, {_TOTAL_NAMES} FROM cycle_merged WHERE services <> 0
        ON CONFLICT (cycle, camhs_only) DO UPDATE SET {_TOTAL_UPDATES}
    ),
    emptied AS (
        DELETE FROM responses_provider_totals p
         USING merged m
         WHERE p.organisation_id = m.organisation_id AND p.cycle = m.cycle
           AND p.camhs_only = m.camhs_only AND m.services = 0
    )
    INSERT INTO responses_provider_totals (organisation_id, cycle, camhs_only, {_TOTAL_NAMES})
    SELECT organisation_id, cycle, camhs_only, {_TOTAL_NAMES} FROM merged WHERE services <> 0
    ON CONFLICT (organisation_id, cycle, camhs_only) DO UPDATE SET {_TOTAL_UPDATES}
    """,
    # Sign-off and reopening: the last in the range says whether the return stands signed off;
    # the last sign-off in it gives when, by whom and NI 51.
    f"""
    INSERT INTO responses_returns (organisation_id, cycle, signed_off, signed_off_at,
                                   signed_off_by, ni51, reopened_at)
    SELECT j.key, j.data->>'cycle',
           (array_agg(j.type ORDER BY j.seq DESC))[1] = 'questionnaire.CycleSignedOff',
           (array_agg((j.data->>'signed_off_at')::timestamptz ORDER BY j.seq DESC)
                FILTER (WHERE j.type = 'questionnaire.CycleSignedOff'))[1],
           (array_agg(j.data->>'signed_off_by' ORDER BY j.seq DESC)
                FILTER (WHERE j.type = 'questionnaire.CycleSignedOff'))[1],
           (array_agg(j.data->'ni51' ORDER BY j.seq DESC)
                FILTER (WHERE j.type = 'questionnaire.CycleSignedOff'))[1],
           (array_agg(j.occurred_at ORDER BY j.seq DESC)
                FILTER (WHERE j.type = 'questionnaire.ReturnReopened'))[1]
      FROM journal j
     WHERE {_IN_RANGE}
       AND j.type IN ('questionnaire.CycleSignedOff', 'questionnaire.ReturnReopened')
     GROUP BY j.key, j.data->>'cycle'
    ON CONFLICT (organisation_id, cycle) DO UPDATE
       SET signed_off = EXCLUDED.signed_off,
           signed_off_at = coalesce(EXCLUDED.signed_off_at, responses_returns.signed_off_at),
           signed_off_by = coalesce(EXCLUDED.signed_off_by, responses_returns.signed_off_by),
           ni51 = coalesce(EXCLUDED.ni51, responses_returns.ni51),
           reopened_at = coalesce(EXCLUDED.reopened_at, responses_returns.reopened_at)
    """,
)

PROJECTION = Projection(
    name="responses",
    description=(
        "Each questionnaire's status and latest submission (current unless withdrawn or"
        " cancelled; answers kept for CAMHS partnership and Children's Trust questionnaires),"
        " self-assessment scorecards, the measures of every current service submission and"
        " their totals per provider and cycle, each organisation's questionnaires owed and"
        " submitted per cycle, cycles' previous cycles and organisations' sign-offs."
    ),
    reads=frozenset(
        {
            "questionnaire.CycleScheduled",
            _ISSUED,
            _SUBMITTED,
            _WITHDRAWN,
            _CANCELLED,
            "questionnaire.CycleSignedOff",
            "questionnaire.ReturnReopened",
        }
    ),
    ddl=DDL,
    statements=STATEMENTS,
    tables=(
        "responses",
        "responses_service_measures",
        "responses_provider_totals",
        "responses_cycle_totals",
        "responses_organisation_cycles",
        "responses_cycles",
        "responses_returns",
    ),
)
