-- When each refresh token was exchanged: a token presented again within a few seconds of its
-- exchange is a second request of the same browser racing the first (two tabs, a re-render
-- and a Save), and is answered with the same successor; later, it is reuse and ends the
-- session (application/sign_in.py). Rows from before this have no time: always reuse.
ALTER TABLE spent_refresh_tokens ADD COLUMN spent_at timestamptz;

-- Emailed links that set a password: a new account's set-up link ('set-up', as before) or a
-- forgotten password's reset link ('reset'). A link superseded by a newer one for the same
-- account is marked superseded_at and no longer works. Only ids here: a link's token is an
-- HMAC of its id under a key only registration and notification hold.
ALTER TABLE setup_links ADD COLUMN purpose text NOT NULL DEFAULT 'set-up'
    CHECK (purpose IN ('set-up', 'reset'));
ALTER TABLE setup_links ADD COLUMN superseded_at timestamptz;

-- Requests for emailed links (forgotten password, a new set-up link) by anyone, counted per
-- address and per client under keyed hashes as the sign-in counters are (nothing in clear),
-- in a window that starts with the first request.
CREATE TABLE link_request_counts (
    scope           text NOT NULL CHECK (scope IN ('address', 'client')),
    key             text NOT NULL,
    requests        int NOT NULL DEFAULT 0,
    window_ends_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX link_request_counts_stale ON link_request_counts (window_ends_at);
