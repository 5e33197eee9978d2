-- Failed sign-ins, counted for every email address whether or not it has an account (so the
-- answers never tell which addresses do), under keyed hashes of the address and the client
-- (domain/sign_in_keys.py): no address, email or network, is kept in clear. Rows are dropped
-- once stale (see purge_stale_counters), so the tables hold at most about a day of attempts.
--
-- accounts.failed_attempts and accounts.locked_until are no longer read or written (the
-- lockout is per address and client now); they stay until a later migration drops them, so
-- a replica still running the previous code during a rolling deploy does not fail.

-- Per (address, client): the lockout against guessing. `failures` counts the pair's attempts
-- since its last success or lock (each attempt is counted before its password is checked).
CREATE TABLE sign_in_client_failures (
    address_key      text NOT NULL,
    client_key       text NOT NULL,
    failures         int NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    last_attempt_at  timestamptz NOT NULL,
    PRIMARY KEY (address_key, client_key)
);
CREATE INDEX sign_in_client_failures_stale ON sign_in_client_failures (last_attempt_at);

-- Per address, from every client, in a window that starts with the first attempt: the
-- ceiling against guessing spread over many clients.
CREATE TABLE sign_in_address_failures (
    address_key     text PRIMARY KEY,
    failures        int NOT NULL DEFAULT 0,
    window_ends_at  timestamptz NOT NULL
);
CREATE INDEX sign_in_address_failures_stale ON sign_in_address_failures (window_ends_at);

-- Devices that signed in to an address: the portal keeps the token in an HttpOnly cookie for
-- the browser; only its SHA-256 is here. Such a device is its own client (a stranger on the
-- same network cannot lock it out) and is let in when the address is past its ceiling.
CREATE TABLE trusted_devices (
    device_hash   text NOT NULL,
    address_key   text NOT NULL,
    account_id    text NOT NULL REFERENCES accounts,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (device_hash, address_key)
);
CREATE INDEX trusted_devices_expiry ON trusted_devices (expires_at);
