// Storage prototype 'inplace' for docket (issue 12): the raw loop whose finished jobs stay in the fetched table (ack = UPDATE, with the running and finished indexes docket 0.1 has). See raw.mjs.
import { rawPeer, settings as rawSettings } from './raw.mjs';

export const settings = { ...rawSettings, storage: "finished rows stay: ack is an UPDATE; indexes: ready (partial), running (partial), finished (partial)" };

export const createPeer = rawPeer('inplace');
