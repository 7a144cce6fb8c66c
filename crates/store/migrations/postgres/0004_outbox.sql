-- The outbox: one row per event and granted user, written before a trigger is answered, so
-- that nothing accepted is lost; and the event log: every delivery attempt and its outcome.

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    event           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    retries         BIGINT NOT NULL DEFAULT 0,
    refreshed       BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending',
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    outcome         TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE TABLE event_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    outbox_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX event_log_outbox ON event_log(outbox_id);
