// Configuration of the content processor: every environment variable, validated with zod at
// startup. A bad environment fails with ONE ConfigurationError that lists every bad variable and
// why, so an operator fixes them all in one go instead of one restart per typo.
//
// Secrets: ADMIN_API_KEY is hashed (sha256) here and never kept in plain text; WEBHOOK_SECRET is
// required unless INSECURE_DEV=true, in which case a fixed, publicly known dev secret is used and
// a warning is emitted.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { QueueName } from './jobs/schemas.js';

/** The validated configuration. Durations are milliseconds, sizes bytes. */
export interface AppConfig {
  port: number;
  host: string;
  /** Absent: an embedded PostgreSQL is started under `dataDir/pg` (see database.ts). */
  databaseUrl?: string;
  dataDir: string;
  storageDir: string;
  /** Concurrency per queue on this node. */
  queues: Record<QueueName, number>;
  /** Per-attempt time limit of each worker (ms). */
  timeouts: { images: number; documents: number; emails: number; webhooks: number; exports: number };
  lifelineRescueAfterMs: number;
  prunerMaxAgeMs: number;
  /** Set when SMTP_HOST is: mail goes out through it; otherwise .eml files are written to storage. */
  smtp?: { host: string; port: number; secure: boolean; user?: string; password?: string; from: string };
  /** The From address of mail (SMTP_FROM; also used by the .eml dev transport). */
  mailFrom: string;
  webhookSecret: string;
  /** Optional cluster-wide start rate of webhook deliveries (WEBHOOK_RATE_LIMIT per minute). */
  webhookRateLimit?: { allowed: number; period: number };
  allowPrivateTargets: boolean;
  /** sha256 hex (lowercase) of the admin API key. */
  adminApiKeyHash?: string;
  insecureDev: boolean;
  rateLimit: { max: number; windowMs: number };
  bodyLimit: number;
  uploadLimit: number;
  fetch: { timeoutMs: number; maxBytes: number };
  logLevel: LogLevel;
  /** `*`, or a comma-separated list of origins (e.g. `https://a.example,https://b.example`). */
  corsOrigin: string;
  tenantConcurrency: number;
  /** Bytes one tenant may keep in storage, its jobs' files and uploads (TENANT_STORAGE_QUOTA; 0: no quota). */
  tenantStorageQuota: number;
  /** How often each instance sweeps storage for files of deleted jobs and unused uploads (STORAGE_SWEEP_INTERVAL; 0: never by timer). */
  storageSweepIntervalMs: number;
  /** Open /jobs/:id/events streams one tenant may hold on one instance (EVENT_STREAMS_PER_TENANT). */
  eventStreamsPerTenant: number;
  /** Things an operator should know about (e.g. the dev webhook secret); also emitted at load. */
  warnings: string[];
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Thrown by loadConfig: `issues` holds one entry per bad variable; the message lists them all. */
export class ConfigurationError extends Error {
  readonly issues: readonly { variable: string; message: string }[];
  constructor(issues: readonly { variable: string; message: string }[]) {
    super(`Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  - ${i.variable}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigurationError';
    this.issues = issues;
  }
}

/** The secret used for webhook signatures under INSECURE_DEV when WEBHOOK_SECRET is unset. Public: never use it for real. */
export const DEV_WEBHOOK_SECRET = 'insecure-dev-webhook-secret-do-not-use-in-production';

const EXAMPLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// --- variable parsers (all take the raw string; empty strings count as unset) -------------

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const bool = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' }))
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const text = (max = 1000) => z.string().trim().min(1, 'must not be blank').max(max, `must be at most ${max} characters`);

const originList = z
  .string()
  .trim()
  .refine(
    (v) => v === '*' || v.split(',').every((o) => /^https?:\/\/[^/\s,]+$/.test(o.trim())),
    'must be * or a comma-separated list of origins such as https://app.example.com',
  );

const MAX_MS = 2_147_483_647; // setTimeout's limit
const GIB = 1024 ** 3;

/** Every variable: its parser and its default (raw string), `undefined` meaning optional. */
const VARIABLES = {
  PORT: [int(0, 65535), '3000'],
  HOST: [text(255), '0.0.0.0'],
  DATABASE_URL: [
    z.string().trim().refine((v) => /^postgres(ql)?:\/\//.test(v) && URL.canParse(v), 'must be a postgres:// or postgresql:// URL'),
    undefined,
  ],
  DATA_DIR: [text(), undefined],
  STORAGE_DIR: [text(), undefined],
  QUEUE_IMAGES_LIMIT: [int(0, 1000), '5'],
  QUEUE_DOCUMENTS_LIMIT: [int(0, 1000), '5'],
  QUEUE_EMAILS_LIMIT: [int(0, 1000), '10'],
  QUEUE_WEBHOOKS_LIMIT: [int(0, 1000), '20'],
  QUEUE_EXPORTS_LIMIT: [int(0, 1000), '2'],
  QUEUE_DEFAULT_LIMIT: [int(0, 1000), '10'],
  WORKER_IMAGES_TIMEOUT: [int(100, MAX_MS), '60000'],
  WORKER_DOCUMENTS_TIMEOUT: [int(100, MAX_MS), '120000'],
  WORKER_EMAILS_TIMEOUT: [int(100, MAX_MS), '30000'],
  WORKER_WEBHOOKS_TIMEOUT: [int(100, MAX_MS), '30000'],
  WORKER_EXPORTS_TIMEOUT: [int(100, MAX_MS), '600000'],
  LIFELINE_RESCUE_AFTER: [int(1, 30 * 86_400), '300'],
  PRUNER_MAX_AGE: [int(0, 3650 * 86_400), '604800'],
  SMTP_HOST: [text(255), undefined],
  SMTP_PORT: [int(1, 65535), undefined],
  SMTP_SECURE: [bool, undefined],
  SMTP_USER: [text(), undefined],
  SMTP_PASSWORD: [z.string().min(1), undefined],
  SMTP_FROM: [
    text(320).refine((v) => /^[^<>@\s]+@[^<>@\s]+$|<[^<>@\s]+@[^<>@\s]+>$/.test(v), 'must be an address such as ops@example.org or Ops <ops@example.org>'),
    'Content Processor <no-reply@content-processor.localhost>',
  ],
  WEBHOOK_SECRET: [z.string().min(16, 'must be at least 16 characters (use e.g. `openssl rand -hex 32`)'), undefined],
  WEBHOOK_RATE_LIMIT: [int(1, 10_000), undefined],
  ALLOW_PRIVATE_TARGETS: [bool, 'false'],
  ADMIN_API_KEY_HASH: [z.string().trim().regex(/^[0-9a-fA-F]{64}$/, 'must be the sha256 of the key as 64 hex digits'), undefined],
  ADMIN_API_KEY: [z.string().min(16, 'must be at least 16 characters'), undefined],
  INSECURE_DEV: [bool, 'false'],
  RATE_LIMIT_MAX: [int(1, 1_000_000), '100'],
  RATE_LIMIT_WINDOW_MS: [int(1000, 86_400_000), '60000'],
  BODY_LIMIT: [int(1024, GIB), String(1024 ** 2)],
  UPLOAD_LIMIT: [int(1024, 4 * GIB), String(10 * 1024 ** 2)],
  FETCH_TIMEOUT: [int(100, MAX_MS), '10000'],
  FETCH_MAX_BYTES: [int(1024, 4 * GIB), String(20 * 1024 ** 2)],
  LOG_LEVEL: [z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }), 'info'],
  CORS_ORIGIN: [originList, '*'],
  TENANT_CONCURRENCY: [int(1, 10_000), '2'],
  TENANT_STORAGE_QUOTA: [int(0, 2 ** 50), String(GIB)],
  STORAGE_SWEEP_INTERVAL: [int(0, 86_400), '60'],
  EVENT_STREAMS_PER_TENANT: [int(1, 100), '10'],
} as const satisfies Record<string, readonly [z.ZodType, string | undefined]>;

type Variables = typeof VARIABLES;
type Parsed = { [K in keyof Variables]: Variables[K][1] extends string ? z.output<Variables[K][0]> : z.output<Variables[K][0]> | undefined };

export interface LoadConfigOptions {
  /** Where warnings go besides `config.warnings`. Default: process.emitWarning. */
  warn?: (message: string) => void;
}

/**
 * Reads and validates the configuration from `env`.
 * @throws ConfigurationError listing every bad variable
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): AppConfig {
  const issues: { variable: string; message: string }[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, [schema, fallback]] of Object.entries(VARIABLES) as [string, readonly [z.ZodType, string | undefined]][]) {
    const raw = env[name];
    const given = raw !== undefined && raw.trim() !== '';
    if (!given && fallback === undefined) continue;
    const result = schema.safeParse(given ? raw : fallback);
    if (result.success) values[name] = result.data;
    else issues.push({ variable: name, message: `${result.error.issues.map((i) => i.message).join('; ')} (got ${describe(name, raw)})` });
  }
  const v = values as Parsed;
  const bad = (variable: string) => issues.some((i) => i.variable === variable);

  // Rules between variables.
  const smtpExtras = (['SMTP_PORT', 'SMTP_USER', 'SMTP_PASSWORD', 'SMTP_SECURE'] as const).filter((k) => v[k] !== undefined);
  if (v.SMTP_HOST === undefined && smtpExtras.length > 0 && !bad('SMTP_HOST')) {
    issues.push({ variable: 'SMTP_HOST', message: `is required when ${smtpExtras.join(', ')} ${smtpExtras.length === 1 ? 'is' : 'are'} set` });
  }
  if ((v.SMTP_USER === undefined) !== (v.SMTP_PASSWORD === undefined) && !bad('SMTP_USER') && !bad('SMTP_PASSWORD')) {
    issues.push({ variable: v.SMTP_USER === undefined ? 'SMTP_USER' : 'SMTP_PASSWORD', message: 'SMTP_USER and SMTP_PASSWORD go together: set both or neither' });
  }
  if (v.ADMIN_API_KEY !== undefined && v.ADMIN_API_KEY_HASH !== undefined) {
    issues.push({ variable: 'ADMIN_API_KEY', message: 'set either ADMIN_API_KEY or ADMIN_API_KEY_HASH, not both' });
  }
  const insecureDev = v.INSECURE_DEV ?? false;
  if (v.WEBHOOK_SECRET === undefined && !insecureDev && !bad('WEBHOOK_SECRET')) {
    issues.push({ variable: 'WEBHOOK_SECRET', message: 'is required (webhooks are signed with it); set INSECURE_DEV=true to use a fixed dev secret locally' });
  }
  if (issues.length > 0) throw new ConfigurationError(issues);

  const warnings: string[] = [];
  let webhookSecret = v.WEBHOOK_SECRET;
  if (webhookSecret === undefined) {
    webhookSecret = DEV_WEBHOOK_SECRET;
    warnings.push('WEBHOOK_SECRET is not set: INSECURE_DEV is on, so webhooks are signed with a fixed, publicly known dev secret. Never run like this in production.');
  }
  if (insecureDev) {
    const adminOpen = v.ADMIN_API_KEY === undefined && v.ADMIN_API_KEY_HASH === undefined;
    warnings.push(
      `INSECURE_DEV is on: requests without an API key may act for any tenant (the tenantId of their body)${adminOpen ? ', and with no ADMIN_API_KEY(_HASH) set the admin routes are open to anyone who can reach the server' : ''}. Never run like this in production.`,
    );
  }
  if (v.ALLOW_PRIVATE_TARGETS) warnings.push('ALLOW_PRIVATE_TARGETS is on: jobs may fetch from and post to private and loopback addresses.');
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, 'ConfigWarning'));
  for (const w of warnings) warn(w);

  const dataDir = path.resolve(v.DATA_DIR ?? path.join(EXAMPLE_DIR, '.data'));
  const adminApiKeyHash = v.ADMIN_API_KEY !== undefined ? createHash('sha256').update(v.ADMIN_API_KEY, 'utf8').digest('hex') : v.ADMIN_API_KEY_HASH?.toLowerCase();
  const config: AppConfig = {
    port: v.PORT,
    host: v.HOST,
    dataDir,
    storageDir: path.resolve(v.STORAGE_DIR ?? path.join(dataDir, 'storage')),
    queues: {
      images: v.QUEUE_IMAGES_LIMIT,
      documents: v.QUEUE_DOCUMENTS_LIMIT,
      emails: v.QUEUE_EMAILS_LIMIT,
      webhooks: v.QUEUE_WEBHOOKS_LIMIT,
      exports: v.QUEUE_EXPORTS_LIMIT,
      default: v.QUEUE_DEFAULT_LIMIT,
    },
    timeouts: {
      images: v.WORKER_IMAGES_TIMEOUT,
      documents: v.WORKER_DOCUMENTS_TIMEOUT,
      emails: v.WORKER_EMAILS_TIMEOUT,
      webhooks: v.WORKER_WEBHOOKS_TIMEOUT,
      exports: v.WORKER_EXPORTS_TIMEOUT,
    },
    lifelineRescueAfterMs: v.LIFELINE_RESCUE_AFTER * 1000,
    prunerMaxAgeMs: v.PRUNER_MAX_AGE * 1000,
    mailFrom: v.SMTP_FROM,
    webhookSecret,
    allowPrivateTargets: v.ALLOW_PRIVATE_TARGETS,
    insecureDev,
    rateLimit: { max: v.RATE_LIMIT_MAX, windowMs: v.RATE_LIMIT_WINDOW_MS },
    bodyLimit: v.BODY_LIMIT,
    uploadLimit: v.UPLOAD_LIMIT,
    fetch: { timeoutMs: v.FETCH_TIMEOUT, maxBytes: v.FETCH_MAX_BYTES },
    logLevel: v.LOG_LEVEL,
    corsOrigin: v.CORS_ORIGIN,
    tenantConcurrency: v.TENANT_CONCURRENCY,
    tenantStorageQuota: v.TENANT_STORAGE_QUOTA,
    storageSweepIntervalMs: v.STORAGE_SWEEP_INTERVAL * 1000,
    eventStreamsPerTenant: v.EVENT_STREAMS_PER_TENANT,
    warnings,
  };
  if (v.DATABASE_URL !== undefined) config.databaseUrl = v.DATABASE_URL;
  if (adminApiKeyHash !== undefined) config.adminApiKeyHash = adminApiKeyHash;
  if (v.WEBHOOK_RATE_LIMIT !== undefined) config.webhookRateLimit = { allowed: v.WEBHOOK_RATE_LIMIT, period: 60 };
  if (v.SMTP_HOST !== undefined) {
    const port = v.SMTP_PORT ?? 587;
    config.smtp = { host: v.SMTP_HOST, port, secure: v.SMTP_SECURE ?? port === 465, from: v.SMTP_FROM };
    if (v.SMTP_USER !== undefined) config.smtp.user = v.SMTP_USER;
    if (v.SMTP_PASSWORD !== undefined) config.smtp.password = v.SMTP_PASSWORD;
  }
  return config;
}

/** The offending value for the error message; secrets are never echoed. */
function describe(name: string, raw: string | undefined): string {
  if (raw === undefined) return 'nothing';
  if (/SECRET|PASSWORD|API_KEY|DATABASE_URL/.test(name)) return `a value of ${raw.length} characters`;
  return JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw);
}
