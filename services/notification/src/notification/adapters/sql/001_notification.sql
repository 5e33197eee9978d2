-- Every email the service means to send (its intent) and what became of it (its delivery), in
-- one row, written in the same transaction as the consumer's tracking row: a redelivered or
-- replayed event finds its row (the unique dedupe key) and makes no second email.
CREATE TABLE IF NOT EXISTS notifications (
    id               text PRIMARY KEY,
    dedupe_key       text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    organisation_id  text        NOT NULL,
    recipient        text        NOT NULL,
    recipient_name   text,
    -- What the template needs; never a secret (links are derived when the mail is written).
    context          jsonb       NOT NULL,
    caused_by        text,
    caused_by_type   text,
    -- pending -> sent | failed
    status           text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    smtp_code        integer,
    subject          text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notifications_by_organisation
    ON notifications (organisation_id, created_at);
CREATE INDEX IF NOT EXISTS notifications_by_kind ON notifications (kind, created_at);

-- Who leads each organisation's mapping (from registration's events): reminders, sign-off
-- confirmations and bulletins go to them.
CREATE TABLE IF NOT EXISTS leads (
    organisation_id   text PRIMARY KEY,
    account_id        text NOT NULL,
    email             text NOT NULL,
    name              text NOT NULL
);

CREATE TABLE IF NOT EXISTS organisations (
    code    text PRIMARY KEY,
    name    text NOT NULL,
    kind    text NOT NULL,
    region  text NOT NULL
);

-- Questionnaires' titles and owners (from the questionnaire service's events), for the
-- emails about them.
CREATE TABLE IF NOT EXISTS questionnaires (
    questionnaire_id  text PRIMARY KEY,
    organisation_id   text NOT NULL,
    cycle             text NOT NULL,
    title             text NOT NULL
);
