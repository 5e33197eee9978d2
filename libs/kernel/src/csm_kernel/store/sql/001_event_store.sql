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

-- Appends, one or many at a time, in one round trip. An append is a stream, the version it
-- expects, who/why, and its events; each event comes with its stream version, its data (JSON
-- text) and the canonical JSON of everything its hash covers (see csm_kernel.hashing). The
-- arrays list events append by append. For each append in turn the function checks the
-- stream's version (seeing earlier appends of this call) and chains the hashes
-- (sha256(prev_hash || canonical)) from the stream's head; then it inserts every accepted
-- event in one statement. An append whose stream has moved is reported (out_ok = false, with
-- the actual version) without failing the others: that is what lets the store commit many
-- concurrent appends with one flush (group commit).
--
-- Gap-free positions: the transaction-scoped advisory lock is taken before anything else and
-- held until commit, so positions become visible in the order they were drawn, and a reader
-- that has seen position N never later finds a new event below N. Taking it before the version
-- checks also means no concurrent insert can overtake a check; the unique constraint above
-- stays as the last line of defence.
--
-- Loops walk arrays with FOREACH and index only fixed-width arrays by position: indexing a
-- text[] is a walk from its start, which made large batches quadratic.
CREATE FUNCTION csm_append(
    p_stream_ids text[],
    p_expected_versions int[],
    p_correlation_ids text[],
    p_causation_ids text[],
    p_actors text[],
    p_trace_contexts text[],
    p_occurred_at timestamptz[],
    p_event_appends int[],
    p_event_ids uuid[],
    p_types text[],
    p_versions int[],
    p_keys text[],
    p_stream_versions int[],
    p_data text[],
    p_canonical text[]
) RETURNS TABLE (
    out_append int, out_ok boolean, out_stream_id text, out_stream_version int,
    out_position bigint, out_prev_hash text, out_hash text
)
LANGUAGE plpgsql AS $$
DECLARE
    n_appends int := cardinality(p_stream_ids);
    n_events int := cardinality(p_event_ids);
    v_ok boolean[] := array_fill(false, ARRAY[n_appends]);
    v_actual int[] := array_fill(0, ARRAY[n_appends]);
    v_prev text[] := array_fill(NULL::text, ARRAY[n_events]);
    v_hash text[] := array_fill(NULL::text, ARRAY[n_events]);
    -- streams already appended to in this call: their new version and head
    seen_streams text[] := '{}';
    seen_versions int[] := '{}';
    seen_heads text[] := '{}';
    v_stream text;
    v_version int;
    v_head text;
    v_seen int;
    c text;
    i int := 0;
    a int;
    cur int := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7300000);
    FOREACH c IN ARRAY p_canonical LOOP
        i := i + 1;
        a := p_event_appends[i];
        IF a <> cur THEN
            -- remember where the previous append left its stream
            IF cur > 0 AND v_ok[cur] THEN
                v_seen := array_position(seen_streams, v_stream);
                IF v_seen IS NULL THEN
                    seen_streams := seen_streams || v_stream;
                    seen_versions := seen_versions || p_stream_versions[i - 1];
                    seen_heads := seen_heads || v_head;
                ELSE
                    seen_versions[v_seen] := p_stream_versions[i - 1];
                    seen_heads[v_seen] := v_head;
                END IF;
            END IF;
            cur := a;
            v_stream := p_stream_ids[a];
            v_seen := array_position(seen_streams, v_stream);
            IF v_seen IS NOT NULL THEN
                v_version := seen_versions[v_seen];
                v_head := seen_heads[v_seen];
            ELSE
                SELECT ev.stream_version, ev.hash INTO v_version, v_head
                  FROM events ev WHERE ev.stream_id = v_stream
                 ORDER BY ev.stream_version DESC LIMIT 1;
                IF NOT FOUND THEN
                    v_version := 0;
                    v_head := repeat('0', 64);
                END IF;
            END IF;
            v_ok[a] := v_version = p_expected_versions[a];
            v_actual[a] := v_version;
        END IF;
        IF v_ok[a] THEN
            v_prev[i] := v_head;
            v_head := encode(sha256(convert_to(v_head || c, 'UTF8')), 'hex');
            v_hash[i] := v_head;
        END IF;
    END LOOP;

    RETURN QUERY
    INSERT INTO events AS ev (event_id, stream_id, stream_version, type, version, occurred_at,
                              key, correlation_id, causation_id, actor, data, prev_hash, hash,
                              trace_context)
    SELECT u.event_id, p_stream_ids[u.app], u.stream_version, u.type, u.version,
           p_occurred_at[u.app], u.key, p_correlation_ids[u.app], p_causation_ids[u.app],
           p_actors[u.app], u.data::json, u.prev_hash, u.hash, p_trace_contexts[u.app]
      FROM unnest(p_event_appends, p_event_ids, p_types, p_versions, p_keys, p_stream_versions,
                  p_data, v_prev, v_hash)
           WITH ORDINALITY
           AS u(app, event_id, type, version, key, stream_version, data, prev_hash, hash, ord)
     WHERE v_ok[u.app]
     ORDER BY u.ord
    RETURNING NULL::int, true, ev.stream_id, ev.stream_version, ev.position, ev.prev_hash::text,
              ev.hash::text;

    FOR a IN 1 .. n_appends LOOP
        IF NOT v_ok[a] THEN
            out_append := a;
            out_ok := false;
            out_stream_id := p_stream_ids[a];
            out_stream_version := v_actual[a];
            out_position := NULL;
            out_prev_hash := NULL;
            out_hash := NULL;
            RETURN NEXT;
        END IF;
    END LOOP;
    IF true = ANY (v_ok) THEN
        PERFORM pg_notify('csm_events', '');
    END IF;
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
