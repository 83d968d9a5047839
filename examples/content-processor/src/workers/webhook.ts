// deliver-webhook (queue webhooks): POSTs the event as JSON to the target URL through the
// SSRF-guarded fetch (no redirects followed), signed so the receiver can check it came from us
// and is fresh:
//   X-Docket-Signature: sha256=<hex HMAC-SHA256 of `${timestamp}.${body}` with WEBHOOK_SECRET>
//   X-Docket-Timestamp: <unix seconds>   X-Docket-Event: <event>   X-Docket-Delivery: <job id>
// The delivery id stays the same across retries, so receivers can de-duplicate. Outcomes: 2xx
// completes ({ status, attempts }); a refused target or a 4xx other than 408/429 is discarded at
// once; anything else (network, timeout, 5xx, 408, 429) is retried with exponential backoff,
// or after Retry-After when the receiver sends one with 429/503.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Worker, WorkerResults } from 'docket';
import { webhookJobArgs } from '../jobs/schemas.js';
import { BlockedTargetError, safeFetch } from '../security/ssrf.js';
import { failedStatus, type WorkerDeps } from './common.js';

export interface WebhookResult {
  status: number;
  attempts: number;
  durationMs: number;
}

/** The body a receiver gets. */
export interface WebhookBody {
  id: string;
  event: string;
  tenantId: string;
  createdAt: string;
  payload: Record<string, unknown>;
}

/** `sha256=<hex>` over `${timestamp}.${body}`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver should do: recompute the signature, compare in constant time, and refuse
 * stale timestamps (replays). Exported for receivers written in TypeScript and for the tests.
 */
export function verifyWebhook(secret: string, headers: { signature?: string; timestamp?: string }, body: string, toleranceSeconds = 300, nowMs = Date.now()): boolean {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Receivers' answers are not needed beyond their status: read at most this much. */
const MAX_RESPONSE_BYTES = 256 * 1024;

export function createWebhookWorker(deps: WorkerDeps) {
  const { config, logger } = deps;
  return new Worker({
    name: 'deliver-webhook',
    queue: 'webhooks',
    args: webhookJobArgs,
    maxAttempts: 10,
    timeout: config.timeouts.webhooks,
    perform: async (job, { signal }) => {
      const delivery: WebhookBody = {
        id: job.id,
        event: job.args.event,
        tenantId: job.args.tenantId,
        createdAt: job.insertedAt.toISOString(),
        payload: job.args.payload,
      };
      const body = JSON.stringify(delivery);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const started = performance.now();
      let response;
      try {
        response = await safeFetch(job.args.url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'x-docket-signature': signWebhook(config.webhookSecret, timestamp, body),
            'x-docket-timestamp': timestamp,
            'x-docket-event': job.args.event,
            'x-docket-delivery': job.id,
            'x-docket-attempt': String(job.attempt),
          },
          maxRedirects: 0,
          allowPrivate: config.allowPrivateTargets,
          timeoutMs: Math.min(config.fetch.timeoutMs, config.timeouts.webhooks),
          maxBytes: MAX_RESPONSE_BYTES,
          signal,
        });
      } catch (error) {
        if (error instanceof BlockedTargetError) return WorkerResults.discard(error.message);
        throw error;
      }
      const durationMs = Math.round(performance.now() - started);
      if (response.status < 200 || response.status >= 300) {
        logger.warn('webhook delivery failed', { jobId: job.id, status: response.status, attempt: job.attempt });
        return failedStatus(response.status, response.headers, 'webhook receiver');
      }
      logger.info('webhook delivered', { jobId: job.id, tenantId: job.args.tenantId, status: response.status, durationMs });
      const result: WebhookResult = { status: response.status, attempts: job.attempt, durationMs };
      return result;
    },
  });
}
