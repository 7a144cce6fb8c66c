-- The out-of-session services' outbox: Skill Messaging messages and Proactive Events accepted
-- from a caller, kept until Amazon accepts them, gives up on them, or they expire.
-- * kind: 'message' or 'event'; user_id: the Alexa user id ('' for a multicast event);
-- * region: NA, EU or FE, where the call goes; stage: '' for messages, 'development' or 'live';
-- * dedupe_key: the caller's key, unique per skill: the same key again is the same call;
-- * status: 'pending', 'sent' (Amazon's 202) or 'failed' (refused, or expired), with outcome.
CREATE TABLE service_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    skill_id        TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    region          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    body            TEXT NOT NULL,
    dedupe_key      TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending',
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    outcome         TEXT
);
CREATE INDEX service_outbox_due ON service_outbox(status, next_attempt_at);
CREATE UNIQUE INDEX service_outbox_dedupe ON service_outbox(skill_id, dedupe_key);
