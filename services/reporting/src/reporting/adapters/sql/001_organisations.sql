-- Read model: organisations as registration has announced them.
CREATE TABLE organisations (
    organisation_id  text PRIMARY KEY,
    code             text NOT NULL,
    name             text NOT NULL,
    kind             text NOT NULL,
    region           text NOT NULL,
    partnership_areas text[] NOT NULL DEFAULT '{}',
    registered_at    timestamptz NOT NULL,
    last_event_id    uuid NOT NULL,
    -- Counts how many times the projection applied an event to this row: a redelivered
    -- event must not move it (tests read it).
    applied_events   int NOT NULL DEFAULT 1
);
CREATE INDEX organisations_kind ON organisations (kind);
CREATE INDEX organisations_region ON organisations (region);
