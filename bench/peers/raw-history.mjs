// Storage prototype 'history' for docket (issue 12): the raw loop whose finished jobs move at ack into a history table range-partitioned by finish time (DELETE ... RETURNING feeding an INSERT). See raw.mjs.
import { rawPeer, settings as rawSettings } from './raw.mjs';

export const settings = { ...rawSettings, storage: "finished rows move at ack (DELETE ... RETURNING -> INSERT) into raw.done, PARTITION BY RANGE (finished_at), indexes on id and finished_at" };

export const createPeer = rawPeer('history');
