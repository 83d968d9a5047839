/**
 * `docket/dashboard`: a web UI for operators, mounted in the app's own HTTP server
 * ({@link createDashboard}).
 *
 * @module docket/dashboard
 */
// docket/dashboard: a web UI for operators, mountable in any Node HTTP server. A request handler
// serves one self-contained page (strict CSP, no CDN) and its JSON API over the public Queue API:
// queues with counts and a throughput chart, jobs with filters and paging, a job in full,
// workflows, schedules, nodes and the leader; retry, cancel, discard, pause, resume and scale.
//
// This entry is bundled apart from the main one and imports the main one's runtime (ConfigError,
// JOB_STATES) as the `docket` package, so `instanceof ConfigError` holds across the two.
export { createDashboard } from './handler.js';
export type { DashboardHandler } from './handler.js';
export type { DashboardAuth, DashboardOptions } from './options.js';
