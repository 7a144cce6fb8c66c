-- What a custom skill's users told Alexa about the skill (AlexaSkillEvent.*), so that the
-- out-of-session services send nothing they asked not to get:
-- * disabled_at: when the user disabled the skill (SkillDisabled); cleared when they are heard
--   from again (SkillEnabled, or any request);
-- * subscriptions: the proactive event names they are subscribed to, as a JSON array, from
--   their last ProactiveSubscriptionChanged; NULL when Alexa never said.
ALTER TABLE skill_users ADD COLUMN disabled_at BIGINT;
ALTER TABLE skill_users ADD COLUMN subscriptions TEXT;

-- The keys of Skill Messaging messages the skill handed on (to MQTT or a webhook), so that
-- Alexa delivering the same message again hands it on once. Kept two days (a message lives at
-- most one).
CREATE TABLE skill_message_keys (
    skill_id  TEXT NOT NULL,
    key       TEXT NOT NULL,
    seen_at   BIGINT NOT NULL,
    PRIMARY KEY (skill_id, key)
);
