// What createDashboard takes, checked once: the queue to show, the auth hook (required: there is
// no open default, only an explicit `insecure` flag), where it is mounted, and the optional
// logger, 401 challenge and CSRF secret. Bad options throw a ConfigError naming the problem.
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../index.js';
import type { Logger, QueueApi } from '../index.js';

/**
 * Decides whether a request may see and use the dashboard: `true` lets it through, `false`
 * answers 401. Called for every request (the page, each API call, each action) before anything
 * else is read; a throw answers 500 and is logged.
 *
 * @example
 * ```ts
 * const auth: DashboardAuth = (req) => req.headers['x-admin-token'] === process.env.ADMIN_TOKEN;
 * ```
 */
export type DashboardAuth = (req: IncomingMessage) => boolean | Promise<boolean>;

/**
 * Options of {@link createDashboard}.
 *
 * @example
 * ```ts
 * const dashboard = createDashboard({ queue, auth: (req) => isAdmin(req), basePath: '/dashboard', logger: console });
 * ```
 */
export interface DashboardOptions {
  /** The queue whose database the dashboard shows; a Queue that was never started will do. */
  readonly queue: QueueApi;
  /** Who may use it. Required unless `insecure` is true. */
  readonly auth?: DashboardAuth;
  /** Serve everyone when there is no `auth`: for a laptop only, never a shared network. */
  readonly insecure?: boolean;
  /**
   * The path it is mounted at when the handler sees full URLs (node:http, Fastify): requests
   * outside it go to `next` (or get a 404). Leave it out under Express's `app.use('/path', …)`,
   * which strips the mount path itself.
   */
  readonly basePath?: string;
  /** Where failures and the actions taken are logged. Default: nowhere. */
  readonly logger?: Logger;
  /**
   * The `WWW-Authenticate` value sent with every 401, e.g. `Basic realm="docket"`: the browser
   * then asks for credentials and sends them with every request of the page.
   */
  readonly challenge?: string;
  /**
   * The key CSRF tokens are signed with. Default: random per createDashboard. Pass the same
   * value on every instance when several serve the dashboard behind one address.
   */
  readonly csrfSecret?: string | Uint8Array;
}

/** The options, checked. */
export interface ResolvedOptions {
  readonly queue: QueueApi;
  /** `undefined`: insecure, everyone is let through. */
  readonly auth: DashboardAuth | undefined;
  /** '' or a path starting with '/' and not ending with one. */
  readonly basePath: string;
  readonly logger: Logger;
  readonly challenge: string | undefined;
  readonly csrfSecret: Uint8Array | undefined;
}

const noop = (): void => {};
const SILENT: Logger = { debug: noop, info: noop, warn: noop, error: noop };
const QUEUE_METHODS = ['queueStats', 'listJobs', 'getJob', 'retry', 'cancel', 'discard', 'pauseQueue', 'resumeQueue', 'scaleQueue', 'nodes', 'throughput'];
// A path of plain segments: what a mount point is, and nothing a header or a URL could misread.
const BASE_PATH_RE = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/;

/** Checks the options; throws a ConfigError naming the first problem. */
export function resolveOptions(options: DashboardOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createDashboard: options must be an object');
  const { queue, auth, insecure, basePath, logger, challenge, csrfSecret } = options;
  const missing = QUEUE_METHODS.filter((m) => typeof (queue as unknown as Record<string, unknown> | undefined)?.[m] !== 'function');
  if (typeof queue !== 'object' || queue === null || missing.length > 0) {
    throw new ConfigError(`createDashboard: queue must be a docket Queue${missing.length > 0 ? ` (missing ${missing.join(', ')})` : ''}`);
  }
  if (auth !== undefined && typeof auth !== 'function') throw new ConfigError('createDashboard: auth must be a function (req) => boolean | Promise<boolean>');
  if (insecure !== undefined && typeof insecure !== 'boolean') throw new ConfigError('createDashboard: insecure must be a boolean');
  if (auth === undefined && insecure !== true) {
    throw new ConfigError(
      'createDashboard: an auth hook is required, (req) => boolean | Promise<boolean>; pass insecure: true to serve it to everyone (local use only)',
    );
  }
  let base = basePath ?? '';
  if (typeof base !== 'string') throw new ConfigError('createDashboard: basePath must be a string');
  if (base.endsWith('/')) base = base.slice(0, -1);
  if (base !== '' && !BASE_PATH_RE.test(base)) {
    throw new ConfigError(`createDashboard: basePath must be a path like "/dashboard", got ${JSON.stringify(basePath)}`);
  }
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function')) {
    throw new ConfigError('createDashboard: logger must have debug, info, warn and error methods');
  }
  if (challenge !== undefined && (typeof challenge !== 'string' || challenge.length === 0 || /[\r\n]/.test(challenge))) {
    throw new ConfigError('createDashboard: challenge must be a one-line WWW-Authenticate value, e.g. Basic realm="docket"');
  }
  let secret: Uint8Array | undefined;
  if (csrfSecret !== undefined) {
    secret = typeof csrfSecret === 'string' ? new TextEncoder().encode(csrfSecret) : csrfSecret;
    if (!(secret instanceof Uint8Array) || secret.length < 16) {
      throw new ConfigError('createDashboard: csrfSecret must be a string or bytes of at least 16 bytes');
    }
  }
  return { queue, auth, basePath: base, logger: logger ?? SILENT, challenge, csrfSecret: secret };
}
