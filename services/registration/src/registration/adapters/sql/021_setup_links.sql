-- Set-up links by id. The notification service writes the link into the email: its token is
-- the id and an HMAC of it keyed by the link key (csm_kernel.links), so nothing here or in any
-- event can be turned into a working link without that key. Registration no longer sends
-- set-up mail itself (setup_mail_outbox and setup_tokens stay for the history they hold).
CREATE TABLE setup_links (
    setup_id    text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX setup_links_account ON setup_links (account_id);
