-- A delivered event's outbox row is deleted when its outcome is settled (it was kept with
-- status 'delivered' until retention pruned it): the outbox then holds only what is pending
-- or was dropped (which can be sent again), so its pages and indexes stay small and hot.
-- What the row told about the delivery moves to the event log: when the event was queued
-- (rows logged before this change have 0).
ALTER TABLE event_log ADD COLUMN queued_at BIGINT NOT NULL DEFAULT 0;

-- Fewer index entries written per event, the largest cost left on the doorbell's path. The
-- index by status and age becomes two partial ones, so that a row is in one of them at a
-- time: pending rows by age (the console's newest waiting events, the gauges' oldest) and
-- settled ones by age (retention's prune). The claims index served no query (claims are
-- renewed and settled by id) and was written at every claim and every settle.
DROP INDEX outbox_claims;
DROP INDEX outbox_settled;
CREATE INDEX outbox_pending ON outbox(created_at) WHERE status = 'pending';
CREATE INDEX outbox_settled ON outbox(created_at) WHERE status <> 'pending';
