-- docket 0005: a version per queue control row. Nodes learn of a pause or a scale through a
-- NOTIFY, a periodic re-read, and (the node that made the change) the statement's own RETURNING;
-- those can arrive out of order, e.g. a re-read that started before a pause committed answering
-- after the pausing node applied the pause itself. Every change takes the next value of one
-- sequence per schema, so versions only grow (even for a row deleted and created again), and a
-- node never applies an older version over a newer one.
CREATE SEQUENCE {{schema}}.queue_control_version;
ALTER TABLE {{schema}}.queues
  ADD COLUMN version bigint NOT NULL DEFAULT nextval('{{schema}}.queue_control_version');
