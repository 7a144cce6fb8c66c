-- Users' Login with Amazon grants from AcceptGrant: their tokens sealed with rask's secret key
-- (never stored in the clear), their region, and one visible state:
-- active, refreshing, revoked (the skill was disabled) or refused (LWA refused the credentials).

CREATE TABLE grants (
    user_id             TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    region              TEXT NOT NULL,
    access_token_sealed TEXT NOT NULL,
    refresh_token_sealed TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    state               TEXT NOT NULL,
    state_detail        TEXT,
    state_reported      BIGINT NOT NULL DEFAULT 0,
    refresh_lease_until BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL
);
