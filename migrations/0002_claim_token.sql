-- docket 0002: a token per claim fences acks.
-- The attempt counter is handed back on snooze, shutdown and release, so (state, attempt) can
-- repeat across claims and a late ack could pass a fence built on it. A random token set by
-- each claim cannot repeat, even when a crash loses an asynchronously committed claim.
ALTER TABLE {{schema}}.jobs ADD COLUMN claim uuid;
