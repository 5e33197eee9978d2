-- The journal: every event reporting has received, from every service, once. Projections are
-- built from it (live, rebuilt beside, or replayed up to a moment for as-at reports), so the
-- broker only has to deliver each event once for any number of rebuilds.
--
-- `seq` is assigned inside a transaction holding an advisory lock (journal.py), so commit
-- order is seq order and a projector that has passed seq N never misses an event below it.
CREATE TABLE journal (
    seq            bigint PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    type           text NOT NULL,
    version        int NOT NULL,
    occurred_at    timestamptz NOT NULL,
    key            text NOT NULL,
    stream_id      text NOT NULL,
    stream_version int NOT NULL,
    actor          text NOT NULL,
    correlation_id text NOT NULL,
    data           jsonb NOT NULL,
    prev_hash      text NOT NULL,
    hash           text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX journal_occurred_at ON journal (occurred_at);
CREATE INDEX journal_key ON journal (key, seq);
CREATE INDEX journal_type ON journal (type, seq);

-- One row per projection: how far into the journal its live tables are, and the fingerprint
-- of the code that built them (a changed projection is rebuilt beside the live one).
CREATE TABLE projection_checkpoints (
    projection   text PRIMARY KEY,
    position     bigint NOT NULL DEFAULT 0,
    fingerprint  text NOT NULL,
    built_at     timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The first read model lived in the public schema; projections now live in their own schemas.
DROP TABLE organisations;
