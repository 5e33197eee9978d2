"""How far each cycle, return, questionnaire and delegation has got.

Tables (prefix `prog_`): cycles (timetable and phase), questionnaires (one per instance: status,
saves, delegation, submission), delegations, returns (one per cycle and organisation:
extension, reopenings, sign-offs), NI 51 per LA area, and rule warnings (`rule_warnings.py`).

Questionnaire status follows the questionnaire service's own state machine: `not-started` →
`in-progress` ⇄ `delegated` → `returned` → … → `submitted` (or `cancelled`); a withdrawn
submission goes back to `in-progress`. When a delegation ends without a submission the
service looks at whether any answer is held; the events only say whether any was ever saved,
so a questionnaire whose every answer was cleared again reads `in-progress`, not `not-started`.
"""

from __future__ import annotations

from ...application.projection import Projection
from .. import rule_warnings

SCHEDULED = "questionnaire.CycleScheduled"
RETIMED = "questionnaire.CycleTimetableChanged"
PHASE = "questionnaire.CyclePhaseChanged"
OPENED = "questionnaire.CycleOpened"
EXTENDED = "questionnaire.ExtensionGranted"
REOPENED = "questionnaire.ReturnReopened"
SIGNED_OFF = "questionnaire.CycleSignedOff"
ISSUED = "questionnaire.QuestionnaireIssued"
SAVED = "questionnaire.AnswersSaved"
DELEGATED = "questionnaire.QuestionnaireDelegated"
REVOKED = "questionnaire.DelegationRevoked"
RETURNED = "questionnaire.QuestionnaireReturned"
ACCEPTED = "questionnaire.DelegationAccepted"
SENT_BACK = "questionnaire.QuestionnaireSentBack"
SUBMITTED = "questionnaire.ResponseSubmitted"
WITHDRAWN = "questionnaire.SubmissionWithdrawn"
CANCELLED = "questionnaire.QuestionnaireCancelled"
LOCKED = "questionnaire.QuestionnaireLocked"
UNLOCKED = "questionnaire.QuestionnaireUnlocked"

#: Events after the issue that move a questionnaire instance's status.
_STATUS_EVENTS = (
    DELEGATED,
    REVOKED,
    RETURNED,
    ACCEPTED,
    SENT_BACK,
    SUBMITTED,
    WITHDRAWN,
    CANCELLED,
)
_INSTANCE_EVENTS = (SAVED, *_STATUS_EVENTS, LOCKED, UNLOCKED)
#: Each status event's code (1-15), and the status it leaves (revoked and accepted: it depends).
_CODE = {t: i for i, t in enumerate(_STATUS_EVENTS, 1)}
_STATUS_CODE = (
    "CASE j.type " + " ".join(f"WHEN '{t}' THEN {c}" for t, c in _CODE.items()) + " ELSE 0 END"
)
_LEAVES = {
    DELEGATED: "delegated",
    SENT_BACK: "delegated",
    RETURNED: "returned",
    SUBMITTED: "submitted",
    WITHDRAWN: "in-progress",
    CANCELLED: "cancelled",
}
_STATUS_OF = " ".join(
    f"WHEN x.last_status % 16 = {_CODE[t]} THEN '{s}'" for t, s in _LEAVES.items()
)


def _in(types: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{t}'" for t in types) + ")"


DDL = """
CREATE TABLE prog_cycles (
    cycle                text PRIMARY KEY,
    previous_cycle       text,
    sandbox_opens        timestamptz NOT NULL,
    data_entry_opens     timestamptz NOT NULL,
    summary_reports      timestamptz NOT NULL,
    data_entry_closes    timestamptz NOT NULL,
    publication          timestamptz NOT NULL,
    scheduled_at         timestamptz NOT NULL,
    timetable_changes    int NOT NULL DEFAULT 0,
    timetable_changed_at timestamptz,
    phase                text NOT NULL DEFAULT 'scheduled',
    phase_changed_at     timestamptz,
    opened_at            timestamptz,
    applied_events       int NOT NULL DEFAULT 0
);

-- Room on each page for updated rows (most events update a questionnaire), so updates stay HOT.
CREATE TABLE prog_questionnaires (
    questionnaire_id      text PRIMARY KEY,
    cycle                 text NOT NULL,
    organisation_id       text NOT NULL,
    definition            text NOT NULL,
    kind                  text NOT NULL,    -- the definition id without its version
    title                 text NOT NULL,
    subject_kind          text NOT NULL,
    subject_id            text NOT NULL,
    group_id              text,
    status                text NOT NULL DEFAULT 'not-started',
    issued_at             timestamptz NOT NULL,
    saves                 int NOT NULL DEFAULT 0,
    delegate_saves        int NOT NULL DEFAULT 0,
    answers_changed       int NOT NULL DEFAULT 0,
    -- Answer changes saved after the cycle's summary-reports date (as the timetable now says).
    changes_after_summary int NOT NULL DEFAULT 0,
    first_saved_at        timestamptz,
    last_saved_at         timestamptz,
    delegations           int NOT NULL DEFAULT 0,
    delegated_at          timestamptz,
    last_delegated_at     timestamptz,
    returns               int NOT NULL DEFAULT 0,
    returned_at           timestamptz,
    submissions           int NOT NULL DEFAULT 0,
    first_submitted_at    timestamptz,
    -- The submission that stands (null once withdrawn).
    submitted_at          timestamptz,
    submitted_by          text,
    withdrawals           int NOT NULL DEFAULT 0,
    cancelled_at          timestamptz,
    cancel_reason         text,
    locked                boolean NOT NULL DEFAULT false,
    applied_events        int NOT NULL DEFAULT 0
) WITH (fillfactor = 80);
CREATE INDEX prog_questionnaires_org ON prog_questionnaires (cycle, organisation_id);

CREATE TABLE prog_delegations (
    delegation_id     text PRIMARY KEY,
    questionnaire_id  text NOT NULL,
    cycle             text NOT NULL,
    organisation_id   text NOT NULL,
    delegate_email    text NOT NULL,
    delegated_by      text NOT NULL,
    delegated_at      timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    supersedes        text,
    -- active | returned | accepted | sent-back | revoked | superseded
    status            text NOT NULL DEFAULT 'active',
    first_returned_at timestamptz,
    returned_at       timestamptz,
    times_returned    int NOT NULL DEFAULT 0,
    sent_back_at      timestamptz,
    times_sent_back   int NOT NULL DEFAULT 0,
    accepted_at       timestamptz,
    revoked_at        timestamptz,
    revoke_reason     text,
    superseded_at     timestamptz,
    superseded_by     text,
    applied_events    int NOT NULL DEFAULT 1
);
CREATE INDEX prog_delegations_org ON prog_delegations (cycle, organisation_id);
CREATE INDEX prog_delegations_questionnaire ON prog_delegations (questionnaire_id);

CREATE TABLE prog_returns (
    cycle                   text NOT NULL,
    organisation_id         text NOT NULL,
    extension_until         timestamptz,
    extension_reason        text,
    extension_granted_at    timestamptz,
    extensions              int NOT NULL DEFAULT 0,
    reopenings              int NOT NULL DEFAULT 0,
    -- Reopenings that undid a sign-off (rather than reopening after the close only).
    reopenings_after_sign_off int NOT NULL DEFAULT 0,
    last_reopened_at        timestamptz,
    last_reopen_reason      text,
    sign_offs               int NOT NULL DEFAULT 0,
    first_signed_off_at     timestamptz,
    -- The latest sign-off, whether or not a reopening has undone it since.
    last_signed_off_at      timestamptz,
    last_signed_off_by      text,
    questionnaires_submitted int,
    questionnaires_issued   int,
    answers_count           int,
    organisation_name       text,
    -- Signed off now: the latest sign-off has not been undone by a reopening.
    signed_off              boolean NOT NULL DEFAULT false,
    applied_events          int NOT NULL DEFAULT 0,
    PRIMARY KEY (cycle, organisation_id)
);

CREATE TABLE prog_ni51 (
    cycle                 text NOT NULL,
    organisation_id       text NOT NULL,
    area                  text NOT NULL,
    learning_disabilities int NOT NULL,
    urgent_24_hour_cover  int NOT NULL,
    age_16_17             int NOT NULL,
    early_intervention    int NOT NULL,
    score                 int NOT NULL,
    first_signed_off_at   timestamptz NOT NULL,
    signed_off_at         timestamptz NOT NULL,
    signed_off_by         text NOT NULL,
    -- False once the return is reopened, until it is signed off again.
    signed_off            boolean NOT NULL,
    reopened_at           timestamptz,
    PRIMARY KEY (cycle, organisation_id, area)
);
CREATE INDEX prog_ni51_area ON prog_ni51 (cycle, area);
"""

_IN_RANGE = "j.seq > $1 AND j.seq <= $2"

_CYCLES = (
    f"""
    INSERT INTO prog_cycles (cycle, previous_cycle, sandbox_opens, data_entry_opens,
                             summary_reports, data_entry_closes, publication, scheduled_at,
                             applied_events)
    SELECT j.data->>'cycle', j.data->>'previous_cycle',
           (j.data->'timetable'->>'sandbox_opens')::timestamptz,
           (j.data->'timetable'->>'data_entry_opens')::timestamptz,
           (j.data->'timetable'->>'summary_reports')::timestamptz,
           (j.data->'timetable'->>'data_entry_closes')::timestamptz,
           (j.data->'timetable'->>'publication')::timestamptz, j.occurred_at, 1
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = '{SCHEDULED}'
    ON CONFLICT (cycle) DO NOTHING
    """,
    # The range's last timetable, phase and opening win; each is kept unless the range has one.
    f"""
    UPDATE prog_cycles c
       SET sandbox_opens = coalesce((x.tt->>'sandbox_opens')::timestamptz, c.sandbox_opens),
           data_entry_opens = coalesce((x.tt->>'data_entry_opens')::timestamptz,
                                       c.data_entry_opens),
           summary_reports = coalesce((x.tt->>'summary_reports')::timestamptz,
                                      c.summary_reports),
           data_entry_closes = coalesce((x.tt->>'data_entry_closes')::timestamptz,
                                        c.data_entry_closes),
           publication = coalesce((x.tt->>'publication')::timestamptz, c.publication),
           timetable_changes = c.timetable_changes + x.tt_n,
           timetable_changed_at = coalesce(x.tt_at, c.timetable_changed_at),
           phase = coalesce(x.phase, c.phase),
           phase_changed_at = coalesce(x.phase_at, c.phase_changed_at),
           opened_at = coalesce(x.opened_at, c.opened_at),
           applied_events = c.applied_events + x.n
      FROM (SELECT j.data->>'cycle' AS cycle,
                   (array_agg(j.data->'new_timetable' ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{RETIMED}'))[1] AS tt,
                   count(*) FILTER (WHERE j.type = '{RETIMED}') AS tt_n,
                   max(j.occurred_at) FILTER (WHERE j.type = '{RETIMED}') AS tt_at,
                   (array_agg(j.data->>'phase' ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{PHASE}'))[1] AS phase,
                   max((j.data->>'changed_at')::timestamptz) FILTER (WHERE j.type = '{PHASE}')
                       AS phase_at,
                   max((j.data->>'opened_at')::timestamptz) FILTER (WHERE j.type = '{OPENED}')
                       AS opened_at,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type IN ('{RETIMED}', '{PHASE}', '{OPENED}')
             GROUP BY j.data->>'cycle') x
     WHERE c.cycle = x.cycle
    """,
)

_QUESTIONNAIRES = (
    f"""
    INSERT INTO prog_questionnaires (questionnaire_id, cycle, organisation_id, definition, kind,
                                     title, subject_kind, subject_id, group_id,
                                     issued_at, applied_events)
    SELECT j.data->>'questionnaire_id', j.data->>'cycle', j.key, j.data->>'definition',
           split_part(j.data->>'definition', '@', 1), j.data->>'title',
           j.data->>'subject_kind', j.data->>'subject_id', j.data->>'group_id',
           j.occurred_at, 1
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = '{ISSUED}'
    ON CONFLICT (questionnaire_id) DO NOTHING
    """,
    # Everything after the issue, in one pass (one new row version each): the range's events
    # are aggregated per questionnaire first (their few scalar fields extracted once, behind
    # OFFSET 0, so no payload is carried further), then joined to the rows they touch by key.
    # "The last event of some kinds" is a plain max over seq * 16 + the kind's code, so the
    # aggregate needs no sort; the last submission or withdrawal (whose time and submitter
    # are kept) comes from the few events of those two types. The status is decided by the
    # range's last status event; a revoked or accepted delegation leaves `in-progress` if
    # anything was saved before it (`q.saves` is still the count before this range), and a
    # save after the last status event starts a `not-started` questionnaire.
    f"""
    UPDATE prog_questionnaires q
       SET status = CASE
                        WHEN x.last_status IS NULL
                            THEN CASE WHEN q.status = 'not-started' AND x.last_save IS NOT NULL
                                      THEN 'in-progress' ELSE q.status END
                        WHEN x.last_status % 16 IN ({_CODE[REVOKED]}, {_CODE[ACCEPTED]})
                            THEN CASE WHEN q.saves > 0 OR x.first_save < x.last_status / 16
                                           OR x.last_save > x.last_status / 16
                                      THEN 'in-progress' ELSE 'not-started' END
                        {_STATUS_OF}
                    END,
           saves = q.saves + x.saves,
           delegate_saves = q.delegate_saves + x.delegate_saves,
           answers_changed = q.answers_changed + x.changes,
           changes_after_summary = q.changes_after_summary + x.after_summary,
           first_saved_at = coalesce(q.first_saved_at, x.first_saved_at),
           last_saved_at = coalesce(x.last_saved_at, q.last_saved_at),
           delegations = q.delegations + x.delegations,
           delegated_at = coalesce(q.delegated_at, x.first_delegated_at),
           last_delegated_at = coalesce(x.last_delegated_at, q.last_delegated_at),
           returns = q.returns + x.returns,
           returned_at = coalesce(x.returned_at, q.returned_at),
           submissions = q.submissions + x.submissions,
           first_submitted_at = coalesce(q.first_submitted_at, x.first_submitted_at),
           submitted_at = CASE WHEN s.qid IS NULL THEN q.submitted_at
                               WHEN s.submitted THEN s.at END,
           submitted_by = CASE WHEN s.qid IS NULL THEN q.submitted_by
                               WHEN s.submitted THEN s.submitted_by END,
           withdrawals = q.withdrawals + x.withdrawals,
           cancelled_at = coalesce(x.cancelled_at, q.cancelled_at),
           cancel_reason = coalesce(x.cancel_reason, q.cancel_reason),
           locked = CASE WHEN x.last_lock IS NULL THEN q.locked ELSE x.last_lock % 2 = 1 END,
           applied_events = q.applied_events + x.n
      FROM (SELECT e.qid, count(*) AS n,
                   max(e.seq * 16 + e.code) FILTER (WHERE e.code > 0) AS last_status,
                   min(e.seq) FILTER (WHERE e.type = '{SAVED}') AS first_save,
                   max(e.seq) FILTER (WHERE e.type = '{SAVED}') AS last_save,
                   count(*) FILTER (WHERE e.type = '{SAVED}') AS saves,
                   count(*) FILTER (WHERE e.via = 'delegate') AS delegate_saves,
                   coalesce(sum(e.changes), 0) AS changes,
                   coalesce(sum(e.changes) FILTER (WHERE e.at > c.summary_reports), 0)
                       AS after_summary,
                   min(e.at) FILTER (WHERE e.type = '{SAVED}') AS first_saved_at,
                   max(e.at) FILTER (WHERE e.type = '{SAVED}') AS last_saved_at,
                   count(*) FILTER (WHERE e.type = '{DELEGATED}') AS delegations,
                   min(e.at) FILTER (WHERE e.type = '{DELEGATED}') AS first_delegated_at,
                   max(e.at) FILTER (WHERE e.type = '{DELEGATED}') AS last_delegated_at,
                   count(*) FILTER (WHERE e.type = '{RETURNED}') AS returns,
                   max(e.at) FILTER (WHERE e.type = '{RETURNED}') AS returned_at,
                   count(*) FILTER (WHERE e.type = '{SUBMITTED}') AS submissions,
                   min(e.at) FILTER (WHERE e.type = '{SUBMITTED}') AS first_submitted_at,
                   count(*) FILTER (WHERE e.type = '{WITHDRAWN}') AS withdrawals,
                   max(e.at) FILTER (WHERE e.type = '{CANCELLED}') AS cancelled_at,
                   max(e.reason) FILTER (WHERE e.type = '{CANCELLED}') AS cancel_reason,
                   max(e.seq * 2 + (e.type = '{LOCKED}')::int)
                       FILTER (WHERE e.type IN ('{LOCKED}', '{UNLOCKED}')) AS last_lock
              FROM (SELECT j.data->>'questionnaire_id' AS qid, j.seq, j.type,
                           j.occurred_at AS at, {_STATUS_CODE} AS code,
                           CASE WHEN j.type = '{SAVED}' THEN j.data->>'cycle' END AS cycle,
                           CASE WHEN j.type = '{SAVED}'
                                THEN jsonb_array_length(j.data->'changes') END AS changes,
                           CASE WHEN j.type = '{SAVED}' THEN j.data->>'via' END AS via,
                           CASE WHEN j.type = '{CANCELLED}' THEN j.data->>'reason' END AS reason
                      FROM journal j
                     WHERE {_IN_RANGE} AND j.type IN {_in(_INSTANCE_EVENTS)}
                    OFFSET 0) e
              LEFT JOIN prog_cycles c ON c.cycle = e.cycle
             GROUP BY e.qid) x
      LEFT JOIN (SELECT DISTINCT ON (j.data->>'questionnaire_id')
                        j.data->>'questionnaire_id' AS qid, j.type = '{SUBMITTED}' AS submitted,
                        j.occurred_at AS at, j.data->>'submitted_by' AS submitted_by
                   FROM journal j
                  WHERE {_IN_RANGE} AND j.type IN ('{SUBMITTED}', '{WITHDRAWN}')
                  ORDER BY j.data->>'questionnaire_id', j.seq DESC) s ON s.qid = x.qid
     WHERE q.questionnaire_id = x.qid
    """,
    # A cycle scheduled or retimed in this range: count its changes after the summary-reports
    # date afresh from every save so far, so the count follows the timetable as it now stands
    # (rare, so reading the saves again is cheap over a history). Only saves before the range
    # can have been counted against another timetable (or none, arriving before the cycle's
    # schedule): the statement above counted the range's own against the range's last one.
    # So a cycle with no save before the range (as in a rebuild's range that schedules it) is
    # not read again.
    f"""
    WITH touched AS (
        SELECT DISTINCT j.data->>'cycle' AS cycle
          FROM journal j
         WHERE {_IN_RANGE} AND j.type IN ('{SCHEDULED}', '{RETIMED}')
           AND EXISTS (SELECT 1 FROM prog_questionnaires q1 WHERE q1.cycle = j.data->>'cycle')
           AND EXISTS (SELECT 1 FROM journal j1
                        WHERE j1.type = '{SAVED}' AND j1.seq <= $1
                          AND j1.data->>'cycle' = j.data->>'cycle')
    ), counts AS (
        SELECT j.data->>'questionnaire_id' AS qid,
               sum(jsonb_array_length(j.data->'changes')) AS n
          FROM journal j
          JOIN touched t ON t.cycle = j.data->>'cycle'
          JOIN prog_cycles c ON c.cycle = t.cycle
         WHERE j.seq <= $2 AND j.type = '{SAVED}' AND j.occurred_at > c.summary_reports
         GROUP BY 1
    )
    UPDATE prog_questionnaires q
       SET changes_after_summary = x.n
      FROM (SELECT q2.questionnaire_id, coalesce(counts.n, 0) AS n
              FROM prog_questionnaires q2
              JOIN touched t ON t.cycle = q2.cycle
              LEFT JOIN counts ON counts.qid = q2.questionnaire_id) x
     WHERE q.questionnaire_id = x.questionnaire_id AND q.changes_after_summary <> x.n
    """,
)

_DELEGATIONS = (
    f"""
    INSERT INTO prog_delegations (delegation_id, questionnaire_id, cycle, organisation_id,
                                  delegate_email, delegated_by, delegated_at, expires_at,
                                  supersedes)
    SELECT j.data->>'delegation_id', j.data->>'questionnaire_id', j.data->>'cycle', j.key,
           j.data->>'delegate_email', j.data->>'delegated_by', j.occurred_at,
           (j.data->>'expires_at')::timestamptz, j.data->>'supersedes'
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = '{DELEGATED}'
    ON CONFLICT (delegation_id) DO NOTHING
    """,
    # A re-delegation revokes the old one and then supersedes it: the later fact wins.
    f"""
    UPDATE prog_delegations d
       SET status = x.status,
           first_returned_at = coalesce(d.first_returned_at, x.first_returned_at),
           returned_at = coalesce(x.returned_at, d.returned_at),
           times_returned = d.times_returned + x.returns,
           sent_back_at = coalesce(x.sent_back_at, d.sent_back_at),
           times_sent_back = d.times_sent_back + x.sent_back,
           accepted_at = coalesce(x.accepted_at, d.accepted_at),
           revoked_at = coalesce(x.revoked_at, d.revoked_at),
           revoke_reason = coalesce(x.revoke_reason, d.revoke_reason),
           superseded_at = coalesce(x.superseded_at, d.superseded_at),
           superseded_by = coalesce(x.superseded_by, d.superseded_by),
           applied_events = d.applied_events + x.n
      FROM (SELECT e.did,
                   (array_agg(e.status ORDER BY e.seq DESC))[1] AS status,
                   count(*) FILTER (WHERE e.status <> 'superseded') AS n,
                   count(*) FILTER (WHERE e.status = 'returned') AS returns,
                   min(e.at) FILTER (WHERE e.status = 'returned') AS first_returned_at,
                   max(e.at) FILTER (WHERE e.status = 'returned') AS returned_at,
                   count(*) FILTER (WHERE e.status = 'sent-back') AS sent_back,
                   max(e.at) FILTER (WHERE e.status = 'sent-back') AS sent_back_at,
                   max(e.at) FILTER (WHERE e.status = 'accepted') AS accepted_at,
                   max(e.at) FILTER (WHERE e.status = 'revoked') AS revoked_at,
                   (array_agg(e.reason ORDER BY e.seq DESC)
                        FILTER (WHERE e.status = 'revoked'))[1] AS revoke_reason,
                   max(e.at) FILTER (WHERE e.status = 'superseded') AS superseded_at,
                   max(e.by) FILTER (WHERE e.status = 'superseded') AS superseded_by
              FROM (SELECT j.data->>'delegation_id' AS did, j.seq, j.occurred_at AS at,
                           CASE j.type WHEN '{RETURNED}' THEN 'returned'
                                       WHEN '{ACCEPTED}' THEN 'accepted'
                                       WHEN '{SENT_BACK}' THEN 'sent-back'
                                       ELSE 'revoked' END AS status,
                           j.data->>'reason' AS reason, NULL::text AS by
                      FROM journal j
                     WHERE {_IN_RANGE}
                       AND j.type IN ('{RETURNED}', '{ACCEPTED}', '{SENT_BACK}', '{REVOKED}')
                    UNION ALL
                    SELECT j.data->>'supersedes', j.seq, j.occurred_at, 'superseded', NULL,
                           j.data->>'delegation_id'
                      FROM journal j
                     WHERE {_IN_RANGE} AND j.type = '{DELEGATED}'
                       AND j.data->>'supersedes' IS NOT NULL) e
             GROUP BY e.did) x
     WHERE d.delegation_id = x.did
    """,
)

_RETURNS = (
    f"""
    INSERT INTO prog_returns (cycle, organisation_id)
    SELECT DISTINCT j.data->>'cycle', j.key
      FROM journal j
     WHERE {_IN_RANGE} AND j.type IN ('{EXTENDED}', '{REOPENED}', '{SIGNED_OFF}')
    ON CONFLICT (cycle, organisation_id) DO NOTHING
    """,
    f"""
    UPDATE prog_returns r
       SET extension_until = coalesce(x.until, r.extension_until),
           extension_reason = coalesce(x.ext_reason, r.extension_reason),
           extension_granted_at = coalesce(x.ext_at, r.extension_granted_at),
           extensions = r.extensions + x.extensions,
           reopenings = r.reopenings + x.reopenings,
           reopenings_after_sign_off = r.reopenings_after_sign_off + x.undid,
           last_reopened_at = coalesce(x.reopened_at, r.last_reopened_at),
           last_reopen_reason = coalesce(x.reopen_reason, r.last_reopen_reason),
           sign_offs = r.sign_offs + x.sign_offs,
           first_signed_off_at = coalesce(r.first_signed_off_at, x.first_signed_off_at),
           last_signed_off_at = coalesce(x.so->>'signed_off_at', r.last_signed_off_at::text)
                                    ::timestamptz,
           last_signed_off_by = coalesce(x.so->>'signed_off_by', r.last_signed_off_by),
           questionnaires_submitted = coalesce((x.so->>'questionnaires_submitted')::int,
                                               r.questionnaires_submitted),
           questionnaires_issued = CASE WHEN x.so IS NULL THEN r.questionnaires_issued
                                        ELSE (x.so->>'questionnaires_issued')::int END,
           answers_count = CASE WHEN x.so IS NULL THEN r.answers_count
                                ELSE (x.so->>'answers_count')::int END,
           organisation_name = coalesce(x.so->>'organisation_name', r.organisation_name),
           signed_off = coalesce(x.signed_off, r.signed_off),
           applied_events = r.applied_events + x.n
      FROM (SELECT j.data->>'cycle' AS cycle, j.key,
                   (array_agg((j.data->>'until')::timestamptz ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{EXTENDED}'))[1] AS until,
                   (array_agg(j.data->>'reason' ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{EXTENDED}'))[1] AS ext_reason,
                   max(j.occurred_at) FILTER (WHERE j.type = '{EXTENDED}') AS ext_at,
                   count(*) FILTER (WHERE j.type = '{EXTENDED}') AS extensions,
                   count(*) FILTER (WHERE j.type = '{REOPENED}') AS reopenings,
                   count(*) FILTER (WHERE j.type = '{REOPENED}'
                                      AND j.data->>'was_signed_off_at' IS NOT NULL) AS undid,
                   max(j.occurred_at) FILTER (WHERE j.type = '{REOPENED}') AS reopened_at,
                   (array_agg(j.data->>'reason' ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{REOPENED}'))[1] AS reopen_reason,
                   count(*) FILTER (WHERE j.type = '{SIGNED_OFF}') AS sign_offs,
                   min((j.data->>'signed_off_at')::timestamptz)
                       FILTER (WHERE j.type = '{SIGNED_OFF}') AS first_signed_off_at,
                   (array_agg(j.data ORDER BY j.seq DESC)
                        FILTER (WHERE j.type = '{SIGNED_OFF}'))[1] AS so,
                   (array_agg(j.type = '{SIGNED_OFF}' ORDER BY j.seq DESC)
                        FILTER (WHERE j.type IN ('{SIGNED_OFF}', '{REOPENED}')))[1] AS signed_off,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type IN ('{EXTENDED}', '{REOPENED}', '{SIGNED_OFF}')
             GROUP BY j.data->>'cycle', j.key) x
     WHERE r.cycle = x.cycle AND r.organisation_id = x.key
    """,
)

# The range's last sign-off per return replaces its NI 51 rows (an area it no longer lists
# goes); a reopening after it (in the range) marks them no longer signed off.
_LAST_SIGN_OFF = f"""
    SELECT DISTINCT ON (j.data->>'cycle', j.key) j.data->>'cycle' AS cycle, j.key, j.data
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = '{SIGNED_OFF}'
     ORDER BY j.data->>'cycle', j.key, j.seq DESC
"""

_NI51 = (
    f"""
    DELETE FROM prog_ni51 n
     USING ({_LAST_SIGN_OFF}) s
     WHERE n.cycle = s.cycle AND n.organisation_id = s.key
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.data->'ni51') a
                        WHERE a->>'area' = n.area)
    """,
    f"""
    INSERT INTO prog_ni51 AS n (cycle, organisation_id, area, learning_disabilities,
                                urgent_24_hour_cover, age_16_17, early_intervention, score,
                                first_signed_off_at, signed_off_at, signed_off_by, signed_off)
    SELECT s.cycle, s.key, a->>'area', (a->>'learning_disabilities')::int,
           (a->>'urgent_24_hour_cover')::int, (a->>'age_16_17')::int,
           (a->>'early_intervention')::int, (a->>'score')::int,
           f.first_at, (s.data->>'signed_off_at')::timestamptz, s.data->>'signed_off_by', true
      FROM ({_LAST_SIGN_OFF}) s
     CROSS JOIN LATERAL jsonb_array_elements(s.data->'ni51') a
      JOIN (SELECT j.data->>'cycle' AS cycle, j.key, e->>'area' AS area,
                   min((j.data->>'signed_off_at')::timestamptz) AS first_at
              FROM journal j CROSS JOIN LATERAL jsonb_array_elements(j.data->'ni51') e
             WHERE {_IN_RANGE} AND j.type = '{SIGNED_OFF}'
             GROUP BY 1, 2, 3) f
        ON f.cycle = s.cycle AND f.key = s.key AND f.area = a->>'area'
    ON CONFLICT (cycle, organisation_id, area) DO UPDATE
       SET learning_disabilities = excluded.learning_disabilities,
           urgent_24_hour_cover = excluded.urgent_24_hour_cover,
           age_16_17 = excluded.age_16_17, early_intervention = excluded.early_intervention,
           score = excluded.score,
           first_signed_off_at = least(n.first_signed_off_at, excluded.first_signed_off_at),
           signed_off_at = excluded.signed_off_at, signed_off_by = excluded.signed_off_by,
           signed_off = true, reopened_at = NULL
    """,
    f"""
    UPDATE prog_ni51 n
       SET signed_off = false, reopened_at = x.at
      FROM (SELECT j.data->>'cycle' AS cycle, j.key,
                   max(j.occurred_at) AS at,
                   (array_agg(j.type ORDER BY j.seq DESC))[1] AS last_type
              FROM journal j
             WHERE {_IN_RANGE} AND j.type IN ('{SIGNED_OFF}', '{REOPENED}')
             GROUP BY 1, 2) x
     WHERE x.last_type = '{REOPENED}' AND n.cycle = x.cycle AND n.organisation_id = x.key
    """,
)

PROJECTION = Projection(
    name="progress",
    description="Progress of each cycle: timetable and phase, questionnaires and their "
    "status, delegations, returns (extensions, reopenings, sign-offs) and NI 51 per area.",
    reads=frozenset(
        {
            SCHEDULED,
            RETIMED,
            PHASE,
            OPENED,
            EXTENDED,
            REOPENED,
            SIGNED_OFF,
            ISSUED,
            *_INSTANCE_EVENTS,
        }
    ),
    ddl=DDL + rule_warnings.DDL,
    statements=(
        *_CYCLES,
        *_QUESTIONNAIRES,
        *_DELEGATIONS,
        *_RETURNS,
        *_NI51,
        rule_warnings.STATEMENT,
    ),
    tables=(
        "prog_cycles",
        "prog_questionnaires",
        "prog_delegations",
        "prog_returns",
        "prog_ni51",
        "prog_rule_warnings",
    ),
)
