// notify-media (queue default): the media workflow's last planned step, run once resize and
// contact-sheet both finished (its policy ignores their failure, so a failed branch is reported
// too rather than leaving the requester waiting). It reads their results (typed by stepResult),
// composes the summary (paths of every result file on this API, the workflow's own path), and
// adds one more step to the workflow while it runs: `deliver`, a job of the example's own
// deliver-webhook or send-email worker with that summary as its args. So the delivery keeps
// those workers' signing, SSRF checks, retries and .eml sink, and the workflow ends only once the
// notification went out.
import type { Job, NewStep } from 'docket';
import { Worker, WorkerResults, stepResult } from 'docket';
import type { MediaNotifyArgs, MediaSummary } from '../jobs/media-schemas.js';
import { STEP, mediaNotifyArgs, mediaTags } from '../jobs/media-schemas.js';
import type { WorkerDeps } from './common.js';
import type { ContactSheetWorker } from './contact-sheet.js';
import type { MediaResizeWorker } from './media-resize.js';

export interface NotifyWorkers {
  resize: MediaResizeWorker;
  contactSheet: ContactSheetWorker;
  /** The deliver-webhook and send-email workers (only their names are used). */
  webhook: { readonly name: string };
  email: { readonly name: string };
}

const fileUrl = (jobId: string, name: string) => `/jobs/${jobId}/files/${encodeURIComponent(name)}`;

/** The summary of a finished workflow, from the results of notify's dependencies. */
export function summarize(workflowId: string, args: MediaNotifyArgs, results: Readonly<Record<string, unknown>>, workers: NotifyWorkers): MediaSummary {
  const files: MediaSummary['files'] = [];
  const failedSteps: string[] = [];
  if (Object.prototype.hasOwnProperty.call(results, STEP.resize)) {
    const resized = stepResult(results, STEP.resize, workers.resize);
    for (const f of resized.files) files.push({ step: STEP.resize, name: f.name, bytes: f.bytes, url: fileUrl(resized.jobId, f.name), width: f.width, height: f.height });
  } else failedSteps.push(STEP.resize);
  if (Object.prototype.hasOwnProperty.call(results, STEP.contactSheet)) {
    const sheet = stepResult(results, STEP.contactSheet, workers.contactSheet);
    files.push({ step: STEP.contactSheet, name: sheet.pdf.name, bytes: sheet.pdf.bytes, url: fileUrl(sheet.jobId, sheet.pdf.name) });
  } else failedSteps.push(STEP.contactSheet);
  return {
    workflowId,
    imageId: args.imageId,
    tenantId: args.tenantId,
    outcome: failedSteps.length === 0 ? 'completed' : 'failed',
    links: { workflow: `/workflows/${workflowId}` },
    files,
    failedSteps,
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The email of a summary: plain text and the same as HTML (every value escaped). */
export function emailOf(summary: MediaSummary, subject: string | undefined): { subject: string; text: string; html: string } {
  const done = summary.outcome === 'completed';
  const head = done
    ? `Your image ${summary.imageId} has been processed.`
    : `Processing image ${summary.imageId} did not finish: ${summary.failedSteps.join(', ')} failed.`;
  const lines = summary.files.map((f) => `${f.name} (${f.step}, ${f.bytes} bytes${f.width === undefined ? '' : `, ${f.width}x${f.height}`}): ${f.url}`);
  const text = [head, '', `Workflow ${summary.workflowId}: ${summary.links.workflow}`, ...(lines.length > 0 ? ['', 'Files (paths on the Content Processor API):', ...lines] : [])].join('\n');
  const items = summary.files.map((f) => `<li><a href="${escapeHtml(f.url)}">${escapeHtml(f.name)}</a> (${escapeHtml(f.step)}, ${f.bytes} bytes)</li>`).join('');
  const html = `<p>${escapeHtml(head)}</p><p>Workflow <a href="${escapeHtml(summary.links.workflow)}">${escapeHtml(summary.workflowId)}</a></p>${items ? `<ul>${items}</ul>` : ''}`;
  return { subject: subject ?? (done ? `Media ready: ${summary.imageId}` : `Media failed: ${summary.imageId}`), text, html };
}

/** The `deliver` step for a summary: a webhook delivery or an email, by the request. */
export function deliveryStep(job: Pick<Job<MediaNotifyArgs>, 'args'>, summary: MediaSummary, workers: NotifyWorkers): NewStep {
  const { notify, tenantId } = job.args;
  const common = { name: STEP.deliver, deps: [STEP.notify], tags: mediaTags(tenantId) };
  if (notify.type === 'webhook') {
    return { ...common, worker: workers.webhook, args: { url: notify.url, event: `media.${summary.outcome}`, payload: { ...summary }, tenantId } };
  }
  return { ...common, worker: workers.email, args: { to: notify.to, ...emailOf(summary, notify.subject), tenantId } };
}

export function createMediaNotifyWorker(deps: WorkerDeps, workers: NotifyWorkers) {
  const { logger } = deps;
  return new Worker({
    name: 'notify-media',
    queue: 'default',
    args: mediaNotifyArgs,
    maxAttempts: 5,
    perform: async (job) => {
      if (job.workflow === null) return WorkerResults.discard('notify-media runs as a step of a media workflow only');
      const summary = summarize(job.workflow.id, job.args, await job.results(), workers);
      // A retried attempt adds nothing new: a step name that exists already is skipped.
      const [added] = await job.addSteps([deliveryStep(job, summary, workers)]);
      logger.info('media notification composed', { jobId: job.id, workflowId: job.workflow.id, outcome: summary.outcome, channel: job.args.notify.type });
      return { outcome: summary.outcome, channel: job.args.notify.type, deliveryStep: STEP.deliver, deliveryJobId: added?.id ?? null, files: summary.files.length };
    },
  });
}
