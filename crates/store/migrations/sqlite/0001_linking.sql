-- Account linking: users, OAuth codes and token families, browser sessions, the linking log.
-- Times are Unix milliseconds. Codes and tokens are stored only as SHA-256 hex digests.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE link_sessions (
    id_hash    TEXT PRIMARY KEY,
    csrf       TEXT NOT NULL,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE TABLE oauth_families (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    family_id      TEXT
);

CREATE TABLE oauth_access_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES oauth_families(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_access_tokens_family ON oauth_access_tokens(family_id);

CREATE TABLE oauth_refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL REFERENCES oauth_families(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    rotated_at   BIGINT
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens(family_id);

CREATE TABLE link_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT NOT NULL,
    client_id TEXT,
    user_name TEXT,
    remote    TEXT,
    step      TEXT NOT NULL,
    ok        BIGINT NOT NULL,
    detail    TEXT NOT NULL
);
