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
    -- json, not jsonb: the exact text the hash covers (jsonb would rewrite 1e+16 as
    -- 10000000000000000 and the chain would no longer verify).
    data            json        NOT NULL,
    prev_hash       char(64)    NOT NULL,
    hash            char(64)    NOT NULL,
    -- W3C traceparent of the request that appended it; outside the hash, used by the relay.
    trace_context   text,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

-- One round trip per append. The caller sends each event's canonical JSON (see
-- csm_kernel.hashing), from which the stored data is taken; the function checks the stream's version, chains the hashes
-- (sha256(prev_hash || canonical)) from the stream's head, and inserts.
-- Gap-free positions: the transaction-scoped advisory lock is taken right before positions are
-- drawn and held until commit, so positions become visible in the order they were drawn and a
-- reader that has seen position N never later finds a new event below N.
-- The per-stream version check is backed by the unique constraint above.
CREATE FUNCTION csm_append_events(
    p_stream_id text,
    p_expected_version int,
    p_event_ids uuid[],
    p_types text[],
    p_versions int[],
    p_occurred_at timestamptz,
    p_keys text[],
    p_correlation_id text,
    p_causation_id text,
    p_actor text,
    p_canonical text[],
    p_trace_context text
) RETURNS TABLE (out_position bigint, out_prev_hash text, out_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := cardinality(p_event_ids);
    v_version int;
    v_head text;
    v_prev text[] := array_fill(NULL::text, ARRAY[n]);
    v_hash text[] := array_fill(NULL::text, ARRAY[n]);
BEGIN
    SELECT e.stream_version, e.hash INTO v_version, v_head
      FROM events e WHERE e.stream_id = p_stream_id
     ORDER BY e.stream_version DESC LIMIT 1;
    IF NOT FOUND THEN
        v_version := 0;
        v_head := repeat('0', 64);
    END IF;
    IF v_version <> p_expected_version THEN
        RAISE EXCEPTION USING
            ERRCODE = 'CS409',
            MESSAGE = format('stream %s is at version %s', p_stream_id, v_version),
            DETAIL = v_version::text;
    END IF;
    FOR i IN 1 .. n LOOP
        v_prev[i] := v_head;
        v_head := encode(sha256(convert_to(v_head || p_canonical[i], 'UTF8')), 'hex');
        v_hash[i] := v_head;
    END LOOP;
    PERFORM pg_advisory_xact_lock(7300000);
    RETURN QUERY
    INSERT INTO events (event_id, stream_id, stream_version, type, version, occurred_at, key,
                        correlation_id, causation_id, actor, data, prev_hash, hash, trace_context)
    SELECT u.event_id, p_stream_id, p_expected_version + u.ord::int, u.type, u.version,
           p_occurred_at, u.key, p_correlation_id, p_causation_id, p_actor,
           (u.canonical::json) -> 'data', u.prev_hash, u.hash, p_trace_context
      FROM unnest(p_event_ids, p_types, p_versions, p_keys, p_canonical, v_prev, v_hash)
           WITH ORDINALITY AS u(event_id, type, version, key, canonical, prev_hash, hash, ord)
     ORDER BY u.ord
    RETURNING events.position, events.prev_hash::text, events.hash::text;
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
