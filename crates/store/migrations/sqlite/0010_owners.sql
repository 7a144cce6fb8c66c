-- The owner's console: who may sign in to it (never the people who link their accounts: they
-- are in users), their browser sessions, and what they changed from it.
CREATE TABLE owners (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- A signed-in console session: the digest of the cookie's random id, never the id itself.
CREATE TABLE owner_sessions (
    id_hash    TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Every state-changing action taken from the console, newest last.
CREATE TABLE owner_actions (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     BIGINT NOT NULL,
    owner  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
