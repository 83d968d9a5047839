-- docket 0007: the `held` job state: a workflow step waiting for its dependencies. Not fetchable
-- (the fetch indexes hold only `available` rows), never staged, shown by getWorkflow and stats.
-- A migration of its own: PostgreSQL cannot use an enum value in the transaction that added it,
-- and 0008 uses it in a constraint.
ALTER TYPE {{schema}}.job_state ADD VALUE IF NOT EXISTS 'held' BEFORE 'available';
