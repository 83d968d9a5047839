-- docket 0004: what plugins need: a row per running node (heartbeats, for rescue), leases (the
-- leader), and persisted cron schedules.

CREATE TABLE {{schema}}.nodes (
  id          text PRIMARY KEY,
  host        text NOT NULL,
  pid         integer NOT NULL,
  queues      jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_at  timestamptz NOT NULL DEFAULT now(),
  beat_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per lease; 'leader' is the cluster's. Only its owner renews it; anyone may take it
-- once expires_at (database clock) has passed.
CREATE TABLE {{schema}}.leases (
  name         text PRIMARY KEY,
  owner        text NOT NULL,
  expires_at   timestamptz NOT NULL,
  acquired_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{schema}}.schedules (
  name        text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
  expression  text NOT NULL,
  timezone    text NOT NULL DEFAULT 'UTC',
  worker      text NOT NULL,
  args        jsonb NOT NULL DEFAULT '{}'::jsonb,
  options     jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- What to do with ticks missed while no node ran: 'skip' them, or enqueue the 'last' one.
  missed      text NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip', 'last')),
  -- The next tick to enqueue; NULL until the leader computes it (new or changed schedule).
  next_at     timestamptz,
  last_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
