-- The event store is also the outbox: the relay reads it in position order.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  int         NOT NULL,
    type            text        NOT NULL,
    version         int         NOT NULL,
    occurred_at     timestamptz NOT NULL,
    key             text        NOT NULL,
    correlation_id  text        NOT NULL,
    causation_id    text,
    actor           text        NOT NULL,
    data            jsonb       NOT NULL,
    prev_hash       char(64)    NOT NULL,
    hash            char(64)    NOT NULL,
    -- W3C traceparent of the request that appended it; outside the hash, used by the relay.
    trace_context   text,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

-- Appends take this transaction-scoped advisory lock right before drawing positions, so
-- positions are drawn in commit order: a reader never sees position N+1 before N commits.
-- The per-stream version check is the unique constraint above.
CREATE FUNCTION csm_append_events(
    p_stream_id text,
    p_expected_version int,
    p_head_hash text,
    p_event_ids uuid[],
    p_types text[],
    p_versions int[],
    p_occurred_at timestamptz,
    p_keys text[],
    p_correlation_id text,
    p_causation_id text,
    p_actor text,
    p_data jsonb[],
    p_prev_hashes text[],
    p_hashes text[],
    p_trace_context text
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_version int;
    v_hash text;
BEGIN
    SELECT e.stream_version, e.hash INTO v_version, v_hash
      FROM events e WHERE e.stream_id = p_stream_id
     ORDER BY e.stream_version DESC LIMIT 1;
    IF NOT FOUND THEN
        v_version := 0;
        v_hash := repeat('0', 64);
    END IF;
    IF v_version <> p_expected_version OR v_hash <> p_head_hash THEN
        RAISE EXCEPTION USING
            ERRCODE = 'CS409',
            MESSAGE = format('stream %s is at version %s', p_stream_id, v_version),
            DETAIL = v_version::text;
    END IF;
    PERFORM pg_advisory_xact_lock(7300000);
    RETURN QUERY
    INSERT INTO events (event_id, stream_id, stream_version, type, version, occurred_at, key,
                        correlation_id, causation_id, actor, data, prev_hash, hash, trace_context)
    SELECT u.event_id, p_stream_id, p_expected_version + u.ord::int, u.type, u.version,
           p_occurred_at, u.key, p_correlation_id, p_causation_id, p_actor, u.data,
           u.prev_hash, u.hash, p_trace_context
      FROM unnest(p_event_ids, p_types, p_versions, p_keys, p_data, p_prev_hashes, p_hashes)
           WITH ORDINALITY AS u(event_id, type, version, key, data, prev_hash, hash, ord)
     ORDER BY u.ord
    RETURNING position;
    PERFORM pg_notify('csm_events', '');
END;
$$;

-- Where each relay has published up to.
CREATE TABLE relay_checkpoints (
    relay       text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What each consumer has processed, written in the same transaction as its effect.
CREATE TABLE processed_messages (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
