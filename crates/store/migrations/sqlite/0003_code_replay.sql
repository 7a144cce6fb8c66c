-- A code presented again after its first exchange is marked, so that an exchange still in
-- flight cannot attach a family to it unrevoked.
ALTER TABLE oauth_codes ADD COLUMN replayed_at BIGINT;
