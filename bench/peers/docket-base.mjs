// docket as built at an older git ref: the docket adapter (peers/docket.mjs) on another bundle.
// `run.mjs --baseline <ref>` builds that ref and snapshots its dist/*.js into bench/.docket-base-dist,
// then passes the path as $DOCKET_BASE_DIST; by hand the default is that same snapshot.
import { distUrl, docketAdapter, settings as docketSettings } from './docket.mjs';

export const settings = docketSettings;

export const createPeer = docketAdapter(distUrl('DOCKET_BASE_DIST', '../.docket-base-dist/index.js'));
