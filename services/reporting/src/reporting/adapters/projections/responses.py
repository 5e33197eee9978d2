"""Questionnaire responses: each instance's latest submission, and the service measures.

`responses` has one row per questionnaire instance (what was issued, and the answers last
submitted, current unless withdrawn or cancelled since). `responses_service_measures` holds the
numbers the area and national reports add up, taken out of the answers of every *current*
service submission when it is applied, so a report sums columns instead of digging in jsonb.
`responses_cycles` holds each cycle's previous cycle; `responses_returns` each organisation's
sign-off per cycle. Draft answers (AnswersSaved) are left out: they are most of the history
and nothing reported here depends on them.
"""

from __future__ import annotations

from ...application.projection import Projection
from ...domain.measures import (
    FUNDING_SOURCES,
    INVESTMENT_TOTAL,
    PROFESSIONS,
    SERVICE,
    WTE_TOTAL,
)

#: The numeric service answers copied into columns of the same name.
NUMBERS = (
    *(q for q, _ in FUNDING_SOURCES),
    INVESTMENT_TOTAL,
    *(q for q, _ in PROFESSIONS),
    WTE_TOTAL,
)

_NUMBER_COLUMNS = ",\n".join(f"    {q} numeric" for q in NUMBERS)

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
CREATE INDEX responses_service_measures_by_organisation
    ON responses_service_measures (organisation_id, cycle);

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
_STATUS_TYPES = f"'{_SUBMITTED}', '{_WITHDRAWN}', '{_CANCELLED}'"


def _number(question: str) -> str:
    # Money comes as exact text ("1234.00"), WTE as a JSON number. Anything else (never
    # expected: answers are validated before they are submitted) becomes unknown rather than
    # stopping the whole projection.
    return (
        f"CASE jsonb_typeof(a.{question}) WHEN 'number' THEN a.{question}::numeric"
        f" WHEN 'string' THEN CASE WHEN a.{question} #>> '{{}}' ~ '^-?[0-9]+(\\.[0-9]+)?$'"
        f" THEN (a.{question} #>> '{{}}')::numeric END END"
    )


_MEASURE_COLUMNS = ", ".join(NUMBERS)
_MEASURE_VALUES = ",\n           ".join(_number(q) for q in NUMBERS)
_MEASURE_UPDATES = ", ".join(f"{q} = EXCLUDED.{q}" for q in NUMBERS)
# The answers are parsed once per row into jsonb fields (a compressed answers value would
# otherwise be decompressed for every question read).
_ANSWER_FIELDS = ", ".join(
    [
        "level_of_need text, provider_sector text, camhs jsonb, camhs_tier text",
        *(f"{q} jsonb" for q in NUMBERS),
    ]
)
_RETURNED = (
    "r.questionnaire_id, r.cycle, r.organisation_id, r.definition_id, r.subject_id, r.title,"
    " r.current, r.answers, r.submitted_at"
)
#: The status each kind of event leaves (Issued leaves none).
_STATUS = (
    f"CASE j.type WHEN '{_SUBMITTED}' THEN 'submitted' WHEN '{_WITHDRAWN}' THEN 'withdrawn'"
    f" WHEN '{_CANCELLED}' THEN 'cancelled' END"
)


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
    # One statement for the instances and the service measures, so each event is read once
    # and each row written at most once per range, however many of its events the range
    # holds. `ev` keeps only the small parts of the events (and is sorted narrow); the
    # answers are read from the journal once per questionnaire, from its last submission.
    f"""
    WITH ev AS MATERIALIZED (
        SELECT j.seq, j.key, j.occurred_at, j.data->>'questionnaire_id' AS qid,
               {_STATUS} AS status,
               CASE WHEN j.type = '{_ISSUED}' THEN j.data END AS issued,
               CASE WHEN j.type IN ('{_WITHDRAWN}', '{_CANCELLED}')
                    THEN j.data->>'reason' END AS reason
          FROM journal j
         WHERE {_IN_RANGE} AND j.type IN ('{_ISSUED}', {_STATUS_TYPES})
    ),
    agg AS MATERIALIZED (
        SELECT e.qid, min(e.key) AS organisation_id,
               (array_agg(e.issued) FILTER (WHERE e.issued IS NOT NULL))[1] AS issued,
               min(e.occurred_at) FILTER (WHERE e.issued IS NOT NULL) AS issued_at,
               (array_agg(e.status ORDER BY e.seq DESC) FILTER (WHERE e.status IS NOT NULL))[1]
                   AS status,
               (array_agg(e.occurred_at ORDER BY e.seq DESC)
                    FILTER (WHERE e.status IS NOT NULL))[1] AS status_changed_at,
               (array_agg(e.reason ORDER BY e.seq DESC) FILTER (WHERE e.status IS NOT NULL))[1]
                   AS status_reason,
               max(e.seq) FILTER (WHERE e.status = 'submitted') AS submit_seq,
               count(*) FILTER (WHERE e.status = 'submitted') AS submissions
          FROM ev e
         GROUP BY e.qid
    ),
    x AS (
        SELECT a.*, u.answers, u.submitted_at, u.submitted_by, u.scorecard,
               coalesce(a.issued, u.facts) AS facts
          FROM agg a
          -- OFFSET 0 keeps these lookups by position (joined, the whole journal would be
          -- scanned), and `d` one decompressed copy of the payload: each field read from
          -- the stored, compressed payload would decompress all of it again.
          LEFT JOIN LATERAL (
                SELECT z.d->'answers' AS answers, z.occurred_at AS submitted_at,
                       z.d->>'submitted_by' AS submitted_by, z.d->'scorecard' AS scorecard,
                       jsonb_build_object('cycle', z.d->'cycle',
                                          'definition', z.d->'definition',
                                          'subject_kind', z.d->'subject_kind',
                                          'subject_id', z.d->'subject_id') AS facts
                  FROM (SELECT j.data || '{{}}'::jsonb AS d, j.occurred_at
                          FROM journal j
                         WHERE j.seq = a.submit_seq
                        OFFSET 0) z
                OFFSET 0) u ON true
    ),
    upserted AS (
        INSERT INTO responses AS r (
               questionnaire_id, cycle, organisation_id, definition_id, definition_version,
               title, subject_kind, subject_id, group_id, issued_at, status, current,
               status_changed_at, status_reason, answers, submitted_at, submitted_by,
               submissions, scorecard_topics, overall_grade)
        SELECT x.qid, x.facts->>'cycle', x.organisation_id,
               split_part(x.facts->>'definition', '@', 1),
               CASE WHEN split_part(x.facts->>'definition', '@', 2) ~ '^[0-9]+$'
                    THEN split_part(x.facts->>'definition', '@', 2)::int END,
               x.facts->>'title', x.facts->>'subject_kind', x.facts->>'subject_id',
               x.facts->>'group_id', x.issued_at, coalesce(x.status, 'issued'),
               coalesce(x.status = 'submitted', false), x.status_changed_at, x.status_reason,
               x.answers, x.submitted_at, x.submitted_by, x.submissions,
               x.scorecard->'topics', x.scorecard->>'overall'
          FROM x
         WHERE x.facts IS NOT NULL
        ON CONFLICT (questionnaire_id) DO UPDATE
           SET title = coalesce(r.title, EXCLUDED.title),
               subject_kind = coalesce(r.subject_kind, EXCLUDED.subject_kind),
               subject_id = coalesce(r.subject_id, EXCLUDED.subject_id),
               group_id = coalesce(r.group_id, EXCLUDED.group_id),
               issued_at = coalesce(r.issued_at, EXCLUDED.issued_at),
               status = CASE WHEN EXCLUDED.status_changed_at IS NULL THEN r.status
                             ELSE EXCLUDED.status END,
               current = CASE WHEN EXCLUDED.status_changed_at IS NULL THEN r.current
                              ELSE EXCLUDED.current END,
               status_reason = CASE WHEN EXCLUDED.status_changed_at IS NULL
                                    THEN r.status_reason ELSE EXCLUDED.status_reason END,
               status_changed_at = coalesce(EXCLUDED.status_changed_at, r.status_changed_at),
               answers = coalesce(EXCLUDED.answers, r.answers),
               submitted_at = coalesce(EXCLUDED.submitted_at, r.submitted_at),
               submitted_by = coalesce(EXCLUDED.submitted_by, r.submitted_by),
               scorecard_topics = CASE WHEN EXCLUDED.submitted_at IS NULL
                                       THEN r.scorecard_topics ELSE EXCLUDED.scorecard_topics END,
               overall_grade = CASE WHEN EXCLUDED.submitted_at IS NULL THEN r.overall_grade
                                    ELSE EXCLUDED.overall_grade END,
               submissions = r.submissions + EXCLUDED.submissions
        RETURNING {_RETURNED}
    ),
    -- Only withdrawn or cancelled in this range: the instance is already there.
    updated AS (
        UPDATE responses r
           SET status = a.status, current = false, status_changed_at = a.status_changed_at,
               status_reason = a.status_reason
          FROM agg a
         WHERE a.issued IS NULL AND a.submit_seq IS NULL AND r.questionnaire_id = a.qid
        RETURNING {_RETURNED}
    ),
    changed AS (SELECT * FROM upserted UNION ALL SELECT * FROM updated),
    -- A service whose submission no longer stands leaves the measures...
    gone AS (
        DELETE FROM responses_service_measures m
         USING (SELECT questionnaire_id FROM changed WHERE NOT current) c
         WHERE m.questionnaire_id = c.questionnaire_id
    )
    -- ...and one whose submission stands enters them or replaces its row.
    INSERT INTO responses_service_measures (
           questionnaire_id, cycle, organisation_id, service_id, service_name, submitted_at,
           level_of_need, provider_sector, camhs, camhs_tier, {_MEASURE_COLUMNS})
    SELECT c.questionnaire_id, c.cycle, c.organisation_id, c.subject_id,
           regexp_replace(c.title, '^Service: ', ''), c.submitted_at,
           a.level_of_need, a.provider_sector, coalesce(a.camhs = 'true'::jsonb, false),
           CASE WHEN a.camhs = 'true'::jsonb THEN a.camhs_tier END,
           {_MEASURE_VALUES}
      FROM changed c, jsonb_to_record(c.answers) AS a({_ANSWER_FIELDS})
     WHERE c.current AND c.definition_id = '{SERVICE}'
    ON CONFLICT (questionnaire_id) DO UPDATE
       SET submitted_at = EXCLUDED.submitted_at, level_of_need = EXCLUDED.level_of_need,
           provider_sector = EXCLUDED.provider_sector, camhs = EXCLUDED.camhs,
           camhs_tier = EXCLUDED.camhs_tier, {_MEASURE_UPDATES}
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
        "Each questionnaire's latest submitted answers (current unless withdrawn or cancelled),"
        " self-assessment scorecards, the measures of every current service submission,"
        " cycles' previous cycles and organisations' sign-offs."
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
    tables=("responses", "responses_service_measures", "responses_cycles", "responses_returns"),
)
