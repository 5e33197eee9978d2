-- Tracking that does not grow for ever (csm_kernel.tracking). A tracking row now names the
-- store position it stood for; rows older than the de-duplication window whose positions lie
-- under the consumer's contiguous prefix are deleted, and `processed_pruned.up_to` remembers how
-- far: a redelivery at or below it is known handled without its row (unless it is a pending
-- dead letter, which still wants handling).
ALTER TABLE processed_messages ADD COLUMN topic text, ADD COLUMN position bigint;
CREATE INDEX processed_messages_by_position ON processed_messages (consumer, topic, position)
    WHERE position IS NOT NULL;

CREATE TABLE processed_pruned (
    consumer     text   NOT NULL,
    topic        text   NOT NULL,
    -- Redeliveries at or below this position are duplicates (rows below it may be gone).
    up_to        bigint NOT NULL DEFAULT 0,
    -- When `up_to` last rose: rows are deleted only below a mark that every statement started
    -- since has seen.
    raised_at    timestamptz NOT NULL DEFAULT now(),
    rows_pruned  bigint NOT NULL DEFAULT 0,
    pruned_at    timestamptz,
    PRIMARY KEY (consumer, topic)
);

-- The de-duplication check looks a redelivery up among a consumer's pending dead letters.
CREATE INDEX dead_letters_pending_by_event ON dead_letters (consumer, event_id)
    WHERE status = 'pending';
