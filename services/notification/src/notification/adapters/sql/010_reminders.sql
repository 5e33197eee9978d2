-- Deadline reminders and e-bulletins (notification.application.reminders / .bulletins).

-- Each cycle's close as the questionnaire service's timetable says, and the reminder schedule
-- the national team set for it. The schedule may be set before `questionnaire.CycleScheduled`
-- has arrived here (the events are asynchronous), so the timetable columns are nullable and
-- each writer fills only its own columns.
CREATE TABLE IF NOT EXISTS reminder_cycles (
    cycle              text PRIMARY KEY,
    data_entry_opens   timestamptz,
    closes_at          timestamptz,
    -- occurred_at of the timetable event applied: an older one never overwrites a newer one.
    timetable_at       timestamptz,
    -- Days before the close, in descending order.
    days_before        integer[]   NOT NULL DEFAULT '{28,14,7,1}',
    schedule_set_by    text,
    schedule_set_at    timestamptz
);

-- One organisation's return in a cycle, as far as reminders care: its extension and whether it
-- is signed off (a reopening clears the sign-off). No row: no extension, not signed off.
CREATE TABLE IF NOT EXISTS reminder_returns (
    cycle            text NOT NULL,
    organisation_id  text NOT NULL,
    extension_until  timestamptz,
    extension_at     timestamptz,
    signed_off_at    timestamptz,
    status_at        timestamptz,
    PRIMARY KEY (cycle, organisation_id)
);

-- Every reminder recorded, one per (return, offset, close): the run's anti-join, so a run
-- recording nothing new does no work in `notifications`, and the per-offset counts the national
-- team reads. A close moved by an extension is a new key: reminders against the new date.
CREATE TABLE IF NOT EXISTS reminders_recorded (
    cycle            text        NOT NULL,
    organisation_id  text        NOT NULL,
    days_before      integer     NOT NULL,
    closes_at        timestamptz NOT NULL,
    recipient        text        NOT NULL,
    notification_id  text        NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (cycle, organisation_id, days_before, closes_at)
);

-- Every e-bulletin the national team published; its emails are `notifications` rows of kind
-- `bulletin` caused by `bulletin/<id>`.
CREATE TABLE IF NOT EXISTS bulletins (
    id          text PRIMARY KEY,
    subject     text        NOT NULL,
    body        text        NOT NULL,
    -- {"regions": [...], "kinds": [...], "organisation_ids": [...]}; empty lists: no filter.
    filter      jsonb       NOT NULL,
    recipients  integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    -- Publication order, for bulletins published within one tick of the clock.
    seq         bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX IF NOT EXISTS bulletins_by_time ON bulletins (created_at DESC, seq DESC);
