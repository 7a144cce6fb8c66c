-- Device state: the last value heard of each property, in Alexa's wire form (JSON), and the
-- changes that still owe Alexa a ChangeReport. A change is owed from `owed_since` until the
-- reporter turns it into outbox rows, in the same transaction that clears it: a crash in
-- between neither loses nor doubles the report.

CREATE TABLE device_state (
    endpoint_id  TEXT NOT NULL,
    property     TEXT NOT NULL,
    value        TEXT NOT NULL,
    sampled_at   BIGINT NOT NULL,
    changed_at   BIGINT NOT NULL,
    report_cause TEXT,
    owed_since   BIGINT,
    PRIMARY KEY (endpoint_id, property)
);
CREATE INDEX device_state_owed ON device_state(owed_since);

-- When each device was last heard from, whatever it said: EndpointHealth's connectivity.
CREATE TABLE device_heard (
    endpoint_id TEXT PRIMARY KEY,
    heard_at    BIGINT NOT NULL
);

-- Each endpoint as last announced to Alexa (its discovery JSON), so that a configuration
-- changed between starts becomes AddOrUpdateReport and DeleteReport events.
CREATE TABLE discovered_endpoints (
    endpoint_id TEXT PRIMARY KEY,
    discovery   TEXT NOT NULL
);
