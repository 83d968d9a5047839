// send-email (queue emails): builds the message with nodemailer and sends it through the SMTP
// server of the config (SMTP_HOST...), or, when none is configured, renders it with nodemailer's
// stream transport and stores the real RFC 5322 message as message.eml in storage (open it in any
// mail client). The Message-ID is derived from the job id, so a retried send carries the same id
// and receivers can drop duplicates. SMTP 5xx answers and bad recipients are permanent (discard);
// connection trouble and 4xx are retried.
import nodemailer from 'nodemailer';
import { Worker, WorkerResults } from 'docket';
import type { AppConfig } from '../config.js';
import { emailJobArgs } from '../jobs/schemas.js';
import { messageOf, type WorkerDeps } from './common.js';

export interface EmailResult {
  messageId: string;
  /** The stored message (dev transport only). */
  eml?: string;
  bytes?: number;
  /** SMTP only: what the server accepted and its final answer. */
  accepted?: string[];
  response?: string;
}

export interface EmailWorker {
  worker: ReturnType<typeof buildWorker>;
  /** Closes the SMTP transport (idle connections). */
  close(): void;
}

export function createEmailWorker(deps: WorkerDeps): EmailWorker {
  const smtp = deps.config.smtp ? createSmtpTransport(deps.config.smtp, deps.config.timeouts.emails) : undefined;
  return { worker: buildWorker(deps, smtp), close: () => smtp?.close() };
}

function createSmtpTransport(smtp: NonNullable<AppConfig['smtp']>, timeoutMs: number) {
  const options: Parameters<typeof nodemailer.createTransport>[0] & { auth?: { user: string; pass: string } } = {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    connectionTimeout: Math.min(10_000, timeoutMs),
    greetingTimeout: Math.min(10_000, timeoutMs),
    socketTimeout: timeoutMs,
  };
  if (smtp.user !== undefined) options.auth = { user: smtp.user, pass: smtp.password ?? '' };
  return nodemailer.createTransport(options as { host: string });
}

type SmtpTransport = ReturnType<typeof createSmtpTransport>;
type MailOptions = Parameters<SmtpTransport['sendMail']>[0];

function buildWorker(deps: WorkerDeps, smtp: SmtpTransport | undefined) {
  const { config, storage, logger } = deps;
  const domain = /@([^>\s]+)>?\s*$/.exec(config.mailFrom)?.[1] ?? 'content-processor.localhost';
  const dev = smtp ? undefined : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

  return new Worker({
    name: 'send-email',
    queue: 'emails',
    args: emailJobArgs,
    maxAttempts: 8,
    timeout: config.timeouts.emails,
    perform: async (job, { signal }) => {
      const message: MailOptions = {
        from: config.mailFrom,
        to: job.args.to,
        subject: job.args.subject,
        messageId: `<job-${job.id}@${domain}>`,
        headers: { 'X-Tenant-Id': job.args.tenantId, 'X-Job-Id': job.id },
      };
      if (job.args.text !== undefined) message.text = job.args.text;
      if (job.args.html !== undefined) message.html = job.args.html;

      if (dev) {
        const info = await dev.sendMail(message);
        const { bytes } = await storage.forTenant(job.args.tenantId).write(job.id, 'message.eml', info.message as Buffer, { signal });
        logger.info('email written as .eml (no SMTP configured)', { jobId: job.id, tenantId: job.args.tenantId });
        const result: EmailResult = { messageId: info.messageId, eml: 'message.eml', bytes };
        return result;
      }

      try {
        signal.throwIfAborted();
        const info = await smtp!.sendMail(message);
        logger.info('email sent', { jobId: job.id, tenantId: job.args.tenantId, response: info.response });
        const result: EmailResult = { messageId: info.messageId, accepted: info.accepted.map(String), response: info.response };
        return result;
      } catch (error) {
        const smtpError = error as { responseCode?: number; code?: string };
        if ((smtpError.responseCode ?? 0) >= 500 || (smtpError.code === 'EENVELOPE' && smtpError.responseCode === undefined)) {
          return WorkerResults.discard(`SMTP refused the message for good: ${messageOf(error)}`);
        }
        throw error;
      }
    },
  });
}
