-- Registration's copy of which returns are signed off (the questionnaire service decides it):
-- the directory refuses to change the services of a signed-off return until it is reopened.
-- Written by the consumer of the questionnaire topic: `questionnaire.CycleSignedOff` sets
-- `signed_off_at`, `questionnaire.ReturnReopened` clears it. `return_version` is the last
-- applied event's version on the return's stream (`return-<cycle>-<organisation>`, where both
-- events are): an event at or below it changes nothing, so applying is idempotent and a late
-- redelivery of an older event cannot undo a newer one.
CREATE TABLE signed_off_returns (
    cycle           text        NOT NULL,
    organisation_id text        NOT NULL,
    signed_off_at   timestamptz,
    return_version  int         NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cycle, organisation_id)
);

-- The signed-off returns among those asked, under the store's position lock (`p_lock`; NULL:
-- a glance, no lock), which every directory write takes to append and the consumer takes to
-- record a sign-off: it is held until the caller's transaction commits, so the answer holds for
-- the caller's write. In one round trip (every append of the service waits for that lock): a
-- VOLATILE function takes a fresh snapshot for each statement, so the SELECT, run once the lock
-- is granted, sees every sign-off committed before (a single statement would keep the snapshot
-- it started with, taken before waiting).
CREATE FUNCTION directory_signed_off(p_lock bigint, p_cycles text[], p_organisations text[])
RETURNS TABLE (out_cycle text, out_organisation_id text, out_signed_off_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_lock IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(p_lock);
    END IF;
    RETURN QUERY
    SELECT r.cycle, r.organisation_id, r.signed_off_at
      FROM signed_off_returns r
      JOIN unnest(p_cycles, p_organisations) AS w(cycle, organisation_id)
        ON r.cycle = w.cycle AND r.organisation_id = w.organisation_id
     WHERE r.signed_off_at IS NOT NULL;
END;
$$;
