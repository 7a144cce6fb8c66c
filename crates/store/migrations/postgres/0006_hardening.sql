-- Hardening (issue 12):
-- * sealing_check: one value sealed with the key that seals LWA tokens, written by the first
--   instance to start; every later start must open it, so that a missing or different key is
--   refused instead of silently replacing the one the stored grants need.
-- * outbox.claimed_by: which worker holds a claim, so that a worker renews only its own claims
--   while a slow delivery goes on.
-- * oauth_refresh_tokens.replaced_by and oauth_access_tokens.refresh_hash: the pair a refresh
--   token was rotated into, so that a client that lost the answer can be given a new pair
--   within the grace window, and the unused one withdrawn.
-- * grants.refresh_problem(_at): why the last refresh could not finish, for rask status.
-- * indexes for pruning the logs and the settled outbox rows by age.

CREATE TABLE sealing_check (
    id         BIGINT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE oauth_refresh_tokens ADD COLUMN replaced_by TEXT;
ALTER TABLE oauth_access_tokens ADD COLUMN refresh_hash TEXT;
ALTER TABLE grants ADD COLUMN refresh_problem TEXT;
ALTER TABLE grants ADD COLUMN refresh_problem_at BIGINT;

CREATE INDEX event_log_at ON event_log(at);
CREATE INDEX link_log_at ON link_log(at);
CREATE INDEX outbox_settled ON outbox(status, created_at);
CREATE INDEX outbox_claims ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;
