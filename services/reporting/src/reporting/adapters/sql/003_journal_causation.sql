-- The causation id of each event, which its chain hash covers: without it reporting cannot
-- recompute the hash of an event another one caused (`csm-reporting verify`).
-- `causation_kept` is false for the events journalled before this column was: their causation
-- id was not kept, so a hash that does not match may only mean that.
ALTER TABLE journal ADD COLUMN causation_id text;
ALTER TABLE journal ADD COLUMN causation_kept boolean NOT NULL DEFAULT false;
ALTER TABLE journal ALTER COLUMN causation_kept SET DEFAULT true;
