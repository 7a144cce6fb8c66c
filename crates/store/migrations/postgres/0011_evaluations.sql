-- Works with Alexa evaluations (rask check --evaluate, or the console's button): the counts
-- for the overview, and the whole evaluation as JSON for its page. The newest few are kept.
CREATE TABLE evaluations (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    passed         BIGINT NOT NULL,
    failed         BIGINT NOT NULL,
    not_applicable BIGINT NOT NULL,
    not_checked    BIGINT NOT NULL,
    report         TEXT NOT NULL
);
