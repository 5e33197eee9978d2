-- What the broker acknowledged: the next offset of every partition a relay published to. An
-- acknowledgement below it, or an end offset below it, means the broker lost history.
CREATE TABLE relay_offsets (
    relay        text   NOT NULL,
    topic        text   NOT NULL,
    partition    int    NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (relay, topic, partition)
);

-- Which store positions of each event topic a consumer has received (handled, skipped as a
-- duplicate, ignored or dead-lettered: all were delivered). Each message also names the stored
-- event before it (`prev`: positions in between do not exist, an append having rolled back), so
-- a message covers the positions (prev, position]. Everything up to `contiguous` is covered;
-- messages that arrived out of order wait in consumer_positions_ahead until the run is whole. A
-- hole below an early arrival that stays open past the delivery delay is a detected loss (see
-- csm_kernel.delivery). `producer` is the service whose store the positions belong to (the one
-- asked to publish a missing range again).
CREATE TABLE consumer_positions (
    consumer    text   NOT NULL,
    topic       text   NOT NULL,
    producer    text   NOT NULL,
    contiguous  bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic)
);

CREATE TABLE consumer_positions_ahead (
    consumer     text   NOT NULL,
    topic        text   NOT NULL,
    position     bigint NOT NULL,
    prev         bigint NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, position)
);

-- Record messages received on one topic and move `contiguous` over every run made whole;
-- returns the new `contiguous`. Runs in the caller's transaction, as its last statement (the
-- row lock it takes is then held only until commit, so two members of a group never wait on
-- each other in a cycle). In position order, a message breaks the run when its `prev` lies
-- beyond everything covered before it.
CREATE FUNCTION csm_record_positions(
    p_consumer text, p_topic text, p_producer text, p_positions bigint[], p_prevs bigint[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_contiguous bigint;
    v_break bigint;
    v_run_end bigint;
BEGIN
    -- The usual case, one statement: one message straight after everything covered, nothing
    -- waiting out of order.
    IF cardinality(p_positions) = 1 THEN
        UPDATE consumer_positions SET contiguous = p_positions[1], updated_at = now()
         WHERE consumer = p_consumer AND topic = p_topic AND contiguous = p_prevs[1]
           AND NOT EXISTS (SELECT 1 FROM consumer_positions_ahead
                            WHERE consumer = p_consumer AND topic = p_topic)
        RETURNING contiguous INTO v_contiguous;
        IF FOUND THEN
            RETURN v_contiguous;
        END IF;
    END IF;
    INSERT INTO consumer_positions (consumer, topic, producer)
    VALUES (p_consumer, p_topic, p_producer) ON CONFLICT DO NOTHING;
    SELECT contiguous INTO v_contiguous FROM consumer_positions
     WHERE consumer = p_consumer AND topic = p_topic FOR UPDATE;
    INSERT INTO consumer_positions_ahead (consumer, topic, position, prev)
    SELECT p_consumer, p_topic, p, v FROM unnest(p_positions, p_prevs) AS u(p, v)
     WHERE p > v_contiguous ON CONFLICT DO NOTHING;
    SELECT min(position) INTO v_break FROM (
        SELECT position, prev, lag(position) OVER (ORDER BY position) AS before
          FROM consumer_positions_ahead WHERE consumer = p_consumer AND topic = p_topic
    ) a WHERE prev > greatest(coalesce(before, 0), v_contiguous);
    SELECT max(position) INTO v_run_end FROM consumer_positions_ahead
     WHERE consumer = p_consumer AND topic = p_topic
       AND (v_break IS NULL OR position < v_break);
    IF v_run_end IS NOT NULL THEN
        DELETE FROM consumer_positions_ahead
         WHERE consumer = p_consumer AND topic = p_topic AND position <= v_run_end;
        UPDATE consumer_positions SET contiguous = v_run_end, updated_at = now()
         WHERE consumer = p_consumer AND topic = p_topic;
        v_contiguous := v_run_end;
    END IF;
    RETURN v_contiguous;
END;
$$;

-- Every loss a consumer detected, and when it healed: counted, logged and kept for the audit.
CREATE TABLE consumer_gaps (
    consumer       text   NOT NULL,
    topic          text   NOT NULL,
    first_missing  bigint NOT NULL,
    last_missing   bigint NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT now(),
    requested_at   timestamptz NOT NULL DEFAULT now(),
    requests       int    NOT NULL DEFAULT 1,
    healed_at      timestamptz,
    PRIMARY KEY (consumer, topic, first_missing, detected_at)
);

-- Dead letters, kept durably beside the dead-letter topic (the embedded broker forgets it).
-- One row per consumer and message (its event id, or a digest of an undecodable body): a
-- message dead-lettered again (a republish) counts up `times` instead of adding a row.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer      text   NOT NULL,
    fingerprint   text   NOT NULL,
    event_id      uuid,
    event_type    text,
    source_topic  text   NOT NULL,
    partition     int    NOT NULL,
    "offset"      bigint NOT NULL,
    key           bytea,
    value         bytea,
    headers       jsonb  NOT NULL,
    reason        text   NOT NULL,
    error         text   NOT NULL,
    attempts      int    NOT NULL,
    times         int    NOT NULL DEFAULT 1,
    first_at      timestamptz NOT NULL DEFAULT now(),
    last_at       timestamptz NOT NULL DEFAULT now(),
    -- pending, replayed (published again to its topic) or discarded (with who and why)
    status        text   NOT NULL DEFAULT 'pending',
    resolved_at   timestamptz,
    resolved_by   text,
    resolution    text,
    UNIQUE (consumer, fingerprint)
);
