-- Accounts and their credentials. The facts (created, activated, locked, disabled, lead
-- nominated, group defined) are events; this is the state sign-in needs, written in the same
-- transaction as those events, plus secrets that must never be events: password hashes
-- (argon2id), and only the SHA-256 of set-up and refresh tokens.
CREATE TABLE accounts (
    account_id       text PRIMARY KEY,
    email            text NOT NULL,
    name             text NOT NULL,
    organisation_id  text,
    group_id         text,
    roles            text[] NOT NULL,
    password_hash    text,
    status           text NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    failed_attempts  int NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE setup_tokens (
    token_hash  text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- A set-up link to send. The link's token is made when the mail is sent, so no usable link
-- ever rests in the database.
CREATE TABLE setup_mail_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    int NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX setup_mail_outbox_pending ON setup_mail_outbox (id) WHERE sent_at IS NULL;

CREATE TABLE sessions (
    session_id    text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts,
    refresh_hash  text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
-- Refresh tokens already exchanged: presenting one again means it leaked.
CREATE TABLE spent_refresh_tokens (
    refresh_hash  text PRIMARY KEY,
    session_id    text NOT NULL REFERENCES sessions
);

CREATE TABLE mapping_leads (
    organisation_id  text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts,
    stream_version   int NOT NULL
);

CREATE TABLE service_groups (
    group_id          text PRIMARY KEY,
    organisation_id   text NOT NULL,
    name              text NOT NULL,
    kind              text NOT NULL,
    owner_account_id  text REFERENCES accounts
);
CREATE INDEX service_groups_organisation ON service_groups (organisation_id);
