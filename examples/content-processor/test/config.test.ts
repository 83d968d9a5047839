// loadConfig: defaults, every variable read, all bad variables reported in one error, the
// webhook secret rule (required unless INSECURE_DEV), secrets hashed and never echoed.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, DEV_WEBHOOK_SECRET, loadConfig } from '../src/config.js';

const SECRET = 'a-real-secret-of-enough-length-0123456789';
const quiet = { warn: () => {} };
const load = (env: Record<string, string>) => loadConfig(env, quiet);

function configError(env: Record<string, string>): ConfigurationError {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = load({ WEBHOOK_SECRET: SECRET });
    const dataDir = fileURLToPath(new URL('../.data', import.meta.url));
    expect(config).toEqual({
      port: 3000,
      host: '0.0.0.0',
      dataDir,
      storageDir: path.join(dataDir, 'storage'),
      queues: { images: 5, documents: 5, emails: 10, webhooks: 20, exports: 2, default: 10 },
      timeouts: { images: 60_000, documents: 120_000, emails: 30_000, webhooks: 30_000, exports: 600_000 },
      lifelineRescueAfterMs: 300_000,
      prunerMaxAgeMs: 604_800_000,
      mailFrom: 'Content Processor <no-reply@content-processor.localhost>',
      webhookSecret: SECRET,
      allowPrivateTargets: false,
      insecureDev: false,
      rateLimit: { max: 100, windowMs: 60_000 },
      bodyLimit: 1024 * 1024,
      uploadLimit: 10 * 1024 * 1024,
      fetch: { timeoutMs: 10_000, maxBytes: 20 * 1024 * 1024 },
      logLevel: 'info',
      corsOrigin: '*',
      tenantConcurrency: 2,
      eventStreamsPerTenant: 10,
      tenantStorageQuota: 1024 ** 3,
      storageSweepIntervalMs: 60_000,
      warnings: [],
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.smtp).toBeUndefined();
    expect(config.adminApiKeyHash).toBeUndefined();
  });

  it('reads every variable', () => {
    const config = load({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://u:p@db.internal:5432/content',
      DATA_DIR: '/var/lib/cp',
      STORAGE_DIR: '/srv/files',
      QUEUE_IMAGES_LIMIT: '1',
      QUEUE_DOCUMENTS_LIMIT: '2',
      QUEUE_EMAILS_LIMIT: '3',
      QUEUE_WEBHOOKS_LIMIT: '4',
      QUEUE_EXPORTS_LIMIT: '0',
      QUEUE_DEFAULT_LIMIT: '6',
      WORKER_IMAGES_TIMEOUT: '1000',
      WORKER_DOCUMENTS_TIMEOUT: '2000',
      WORKER_EMAILS_TIMEOUT: '3000',
      WORKER_WEBHOOKS_TIMEOUT: '4000',
      WORKER_EXPORTS_TIMEOUT: '5000',
      LIFELINE_RESCUE_AFTER: '60',
      PRUNER_MAX_AGE: '3600',
      SMTP_HOST: 'smtp.internal',
      SMTP_PORT: '465',
      SMTP_USER: 'mailer',
      SMTP_PASSWORD: 'pw',
      SMTP_FROM: 'Ops <ops@example.org>',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RATE_LIMIT: '120',
      ALLOW_PRIVATE_TARGETS: 'yes',
      ADMIN_API_KEY_HASH: 'A'.repeat(64),
      RATE_LIMIT_MAX: '10',
      RATE_LIMIT_WINDOW_MS: '1000',
      BODY_LIMIT: '2048',
      UPLOAD_LIMIT: '4096',
      FETCH_TIMEOUT: '500',
      FETCH_MAX_BYTES: '8192',
      LOG_LEVEL: 'debug',
      CORS_ORIGIN: 'https://a.example, https://b.example',
      TENANT_CONCURRENCY: '7',
      EVENT_STREAMS_PER_TENANT: '3',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgres://u:p@db.internal:5432/content',
      dataDir: '/var/lib/cp',
      storageDir: '/srv/files',
      queues: { images: 1, documents: 2, emails: 3, webhooks: 4, exports: 0, default: 6 },
      timeouts: { images: 1000, documents: 2000, emails: 3000, webhooks: 4000, exports: 5000 },
      lifelineRescueAfterMs: 60_000,
      prunerMaxAgeMs: 3_600_000,
      smtp: { host: 'smtp.internal', port: 465, secure: true, user: 'mailer', password: 'pw', from: 'Ops <ops@example.org>' },
      mailFrom: 'Ops <ops@example.org>',
      webhookRateLimit: { allowed: 120, period: 60 },
      allowPrivateTargets: true,
      adminApiKeyHash: 'a'.repeat(64),
      rateLimit: { max: 10, windowMs: 1000 },
      bodyLimit: 2048,
      uploadLimit: 4096,
      fetch: { timeoutMs: 500, maxBytes: 8192 },
      logLevel: 'debug',
      corsOrigin: 'https://a.example, https://b.example',
      tenantConcurrency: 7,
      eventStreamsPerTenant: 3,
    });
    expect(config.warnings).toEqual([expect.stringContaining('ALLOW_PRIVATE_TARGETS')]);
  });

  it('treats empty variables as unset, and STORAGE_DIR follows DATA_DIR', () => {
    const config = load({ WEBHOOK_SECRET: SECRET, PORT: '', DATA_DIR: '/tmp/cp-data', SMTP_HOST: '  ' });
    expect(config.port).toBe(3000);
    expect(config.storageDir).toBe('/tmp/cp-data/storage');
    expect(config.smtp).toBeUndefined();
  });

  it('reads the storage quota and sweep interval (0 turns either off), refusing what is not a whole number', () => {
    expect(load({ WEBHOOK_SECRET: SECRET, TENANT_STORAGE_QUOTA: '5000', STORAGE_SWEEP_INTERVAL: '0' })).toMatchObject({ tenantStorageQuota: 5000, storageSweepIntervalMs: 0 });
    const error = configError({ WEBHOOK_SECRET: SECRET, TENANT_STORAGE_QUOTA: '1GB', STORAGE_SWEEP_INTERVAL: '-5' });
    expect(error.issues.map((i) => i.variable).sort()).toEqual(['STORAGE_SWEEP_INTERVAL', 'TENANT_STORAGE_QUOTA']);
    expect(error.message).toMatch(/TENANT_STORAGE_QUOTA: must be a whole number \(got "1GB"\)/);
  });

  it('lists every bad variable, with why, in one error', () => {
    const error = configError({
      PORT: 'eighty',
      HOST: 'h'.repeat(300),
      DATABASE_URL: 'mysql://root@localhost/db',
      QUEUE_IMAGES_LIMIT: '-1',
      QUEUE_EXPORTS_LIMIT: '2.5',
      WORKER_WEBHOOKS_TIMEOUT: '10',
      LIFELINE_RESCUE_AFTER: '0',
      ALLOW_PRIVATE_TARGETS: 'maybe',
      ADMIN_API_KEY_HASH: 'not-hex',
      LOG_LEVEL: 'loud',
      CORS_ORIGIN: 'ftp://files.example',
      TENANT_CONCURRENCY: '0',
      BODY_LIMIT: '12',
      SMTP_FROM: 'not an address',
    });
    const variables = error.issues.map((i) => i.variable).sort();
    expect(variables).toEqual(
      [
        'PORT', 'HOST', 'DATABASE_URL', 'QUEUE_IMAGES_LIMIT', 'QUEUE_EXPORTS_LIMIT', 'WORKER_WEBHOOKS_TIMEOUT',
        'LIFELINE_RESCUE_AFTER', 'ALLOW_PRIVATE_TARGETS', 'ADMIN_API_KEY_HASH', 'LOG_LEVEL', 'CORS_ORIGIN',
        'TENANT_CONCURRENCY', 'BODY_LIMIT', 'SMTP_FROM', 'WEBHOOK_SECRET',
      ].sort(),
    );
    for (const variable of variables) expect(error.message).toContain(`- ${variable}: `);
    expect(error.message).toMatch(/PORT: must be a whole number \(got "eighty"\)/);
    expect(error.message).toMatch(/WORKER_WEBHOOKS_TIMEOUT: must be at least 100/);
    expect(error.message).toMatch(/LOG_LEVEL: must be one of/);
    expect(error.message).toMatch(/ALLOW_PRIVATE_TARGETS: must be true or false/);
    expect(error.message).toContain('15 problems');
  });

  it('requires WEBHOOK_SECRET unless INSECURE_DEV, which uses a dev secret and warns', () => {
    expect(configError({}).issues).toEqual([{ variable: 'WEBHOOK_SECRET', message: expect.stringContaining('INSECURE_DEV=true') }]);
    expect(configError({ INSECURE_DEV: 'false' }).issues.map((i) => i.variable)).toEqual(['WEBHOOK_SECRET']);

    const warnings: string[] = [];
    const config = loadConfig({ INSECURE_DEV: 'true' }, { warn: (m) => warnings.push(m) });
    expect(config.insecureDev).toBe(true);
    expect(config.webhookSecret).toBe(DEV_WEBHOOK_SECRET);
    expect(warnings).toHaveLength(2); // the dev secret, and keyless tenant requests with open admin routes
    expect(warnings[0]).toMatch(/WEBHOOK_SECRET is not set/);
    expect(warnings[1]).toMatch(/act for any tenant.*admin routes are open/);
    expect(load({ INSECURE_DEV: 'true', ADMIN_API_KEY: 'a-key-of-16-chars-or-more' }).warnings.at(-1)).not.toMatch(/admin routes are open/);
    expect(config.warnings).toEqual(warnings);

    // A real secret wins even in dev mode; a short one is refused and never echoed.
    expect(load({ INSECURE_DEV: 'true', WEBHOOK_SECRET: SECRET }).webhookSecret).toBe(SECRET);
    const short = configError({ WEBHOOK_SECRET: 'hunter2' });
    expect(short.issues.map((i) => i.variable)).toEqual(['WEBHOOK_SECRET']);
    expect(short.message).not.toContain('hunter2');
    expect(short.message).toContain('a value of 7 characters');
  });

  it('hashes ADMIN_API_KEY at load and keeps no plain copy', () => {
    const key = 'admin-key-0123456789-abcdef';
    const config = load({ WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: key });
    expect(config.adminApiKeyHash).toBe(createHash('sha256').update(key).digest('hex'));
    expect(JSON.stringify(config)).not.toContain(key);
    expect(configError({ WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: key, ADMIN_API_KEY_HASH: 'b'.repeat(64) }).issues.map((i) => i.variable)).toEqual(['ADMIN_API_KEY']);
    expect(configError({ WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: 'short' }).message).not.toContain('short"');
  });

  it('checks SMTP variables together', () => {
    expect(load({ WEBHOOK_SECRET: SECRET, SMTP_HOST: 'mail.local' }).smtp).toEqual({
      host: 'mail.local',
      port: 587,
      secure: false,
      from: 'Content Processor <no-reply@content-processor.localhost>',
    });
    expect(configError({ WEBHOOK_SECRET: SECRET, SMTP_PORT: '25', SMTP_USER: 'u', SMTP_PASSWORD: 'p' }).issues).toEqual([
      { variable: 'SMTP_HOST', message: 'is required when SMTP_PORT, SMTP_USER, SMTP_PASSWORD are set' },
    ]);
    expect(configError({ WEBHOOK_SECRET: SECRET, SMTP_HOST: 'mail.local', SMTP_USER: 'u' }).issues.map((i) => i.variable)).toEqual(['SMTP_PASSWORD']);
    expect(load({ WEBHOOK_SECRET: SECRET, SMTP_HOST: 'mail.local', SMTP_PORT: '2525', SMTP_SECURE: 'true' }).smtp).toMatchObject({ port: 2525, secure: true });
  });

  it('reads process.env by default', () => {
    const before = process.env.WEBHOOK_SECRET;
    process.env.WEBHOOK_SECRET = SECRET;
    try {
      expect(loadConfig(undefined, quiet).webhookSecret).toBe(SECRET);
    } finally {
      if (before === undefined) delete process.env.WEBHOOK_SECRET;
      else process.env.WEBHOOK_SECRET = before;
    }
  });
});
