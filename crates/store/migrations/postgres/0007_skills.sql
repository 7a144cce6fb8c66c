-- Custom skills (rask-skill):
-- * skill_attributes: each user's persistent attributes, as JSON text, per skill;
-- * skill_users: each custom-skill user's Alexa API endpoint (their region), from the
--   context.System.apiEndpoint of their requests, for the out-of-session services.
CREATE TABLE skill_attributes (
    skill_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (skill_id, user_id)
);

CREATE TABLE skill_users (
    skill_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    api_endpoint TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (skill_id, user_id)
);
