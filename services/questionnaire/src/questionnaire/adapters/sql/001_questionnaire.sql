-- The questionnaire service's read state beside its event store. Every row here is written in
-- the same transaction as the events it reflects, so it never shows what the store lacks.

-- Cycles and their current phase (stream cycle-<cycle>).
CREATE TABLE IF NOT EXISTS cycles (
    cycle          text PRIMARY KEY,
    version        integer     NOT NULL,
    previous_cycle text,
    timetable      jsonb       NOT NULL,
    phase          text        NOT NULL,
    -- Every questionnaire owed when data entry opened has been issued.
    issued         boolean     NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL
);

-- One organisation's return for a cycle (stream return-<cycle>-<organisation>).
CREATE TABLE IF NOT EXISTS returns (
    cycle            text        NOT NULL,
    organisation_id  text        NOT NULL,
    version          integer     NOT NULL,
    extension_until  timestamptz,
    reopened         boolean     NOT NULL DEFAULT false,
    signed_off_at    timestamptz,
    signed_off_by    text,
    sign_offs        integer     NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (cycle, organisation_id)
);

-- Questionnaire instances as their streams stand (stream questionnaire-<id>): the snapshot a
-- save starts from. `locked` mirrors a signed-off return, so a save racing a sign-off fails.
CREATE TABLE IF NOT EXISTS questionnaires (
    id              text PRIMARY KEY,
    cycle           text        NOT NULL,
    organisation_id text        NOT NULL,
    group_id        text,
    definition      text        NOT NULL,
    title           text        NOT NULL,
    subject_kind    text        NOT NULL,
    subject_id      text        NOT NULL,
    status          text        NOT NULL,
    version         integer     NOT NULL,
    answers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    delegation      jsonb,
    submitted_at    timestamptz,
    submitted_by    text,
    locked          boolean     NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS questionnaires_by_organisation
    ON questionnaires (cycle, organisation_id, status);

-- Every delegation ever made, so an old link gets a clear answer about why it stopped.
CREATE TABLE IF NOT EXISTS delegations (
    id               text PRIMARY KEY,
    questionnaire_id text        NOT NULL,
    email            text        NOT NULL,
    status           text        NOT NULL,
    expires_at       timestamptz NOT NULL,
    delegated_by     text        NOT NULL,
    created_at       timestamptz NOT NULL,
    ended_at         timestamptz
);
CREATE INDEX IF NOT EXISTS delegations_by_questionnaire ON delegations (questionnaire_id);

-- What registration told us about organisations and services: who owes what.
CREATE TABLE IF NOT EXISTS known_organisations (
    code              text PRIMARY KEY,
    name              text   NOT NULL,
    kind              text   NOT NULL,
    region            text   NOT NULL,
    partnership_areas text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS known_services (
    service_id      text PRIMARY KEY,
    cycle           text    NOT NULL,
    organisation_id text    NOT NULL,
    group_id        text,
    name            text    NOT NULL,
    camhs           boolean NOT NULL DEFAULT false,
    withdrawn       boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS known_services_by_cycle ON known_services (cycle, organisation_id);
