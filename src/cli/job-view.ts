// How jobs read on a terminal: a row of `docket jobs list`, and the full record of `docket jobs
// get` (args, result, errors with their first stack line, progress, workflow). JSON output does
// not come through here: it prints the Job as the API returns it.
import type { Job } from '../index.js';
import type { Column, Output } from './output.js';
import { compactJson, relative, when } from './output.js';

/** The columns of a job listing. */
export const JOB_COLUMNS: readonly Column[] = [
  { header: 'ID', align: 'right' },
  { header: 'QUEUE' },
  { header: 'WORKER' },
  { header: 'STATE' },
  { header: 'ATTEMPT', align: 'right' },
  { header: 'INSERTED' },
  { header: 'DUE' },
  { header: 'TAGS' },
  { header: 'LAST ERROR' },
];

/** One job as a row of {@link JOB_COLUMNS}. */
export function jobRow(out: Output, job: Job, now: number): string[] {
  const lastError = job.errors.at(-1);
  return [
    job.id,
    job.queue,
    job.worker,
    out.state(job.state),
    `${job.attempt}/${job.maxAttempts}`,
    relative(job.insertedAt, now),
    job.state === 'scheduled' || job.state === 'retryable' || job.state === 'available' ? relative(job.scheduledAt, now) : '-',
    job.tags.join(',') || '-',
    lastError === undefined ? '' : out.paint('red', oneLine(lastError.message, 50)),
  ];
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Indented, pretty JSON for a block under a label. */
function block(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** Every field of a job, then its args, result, progress and errors. */
export function printJob(out: Output, job: Job, now: number): void {
  out.line(`${out.paint('bold', `job ${job.id}`)}  ${job.worker} on ${job.queue}  ${out.state(job.state)}`);
  out.fields([
    ['attempt', `${job.attempt} of ${job.maxAttempts}`],
    ['priority', String(job.priority)],
    ['tags', job.tags.join(', ') || '-'],
    ['inserted', when(job.insertedAt, now)],
    ['scheduled', when(job.scheduledAt, now)],
    ['attempted', `${when(job.attemptedAt, now)}${job.attemptedBy === null ? '' : ` by ${job.attemptedBy}`}`],
    ['completed', when(job.completedAt, now)],
    ['workflow', job.workflow === null ? '-' : `${job.workflow.id}, step "${job.workflow.step}"`],
    [
      'progress',
      job.lastProgress === null
        ? '-'
        : `${job.lastProgress.percent}% at ${job.lastProgress.at}${job.lastProgress.data === null ? '' : `  ${compactJson(job.lastProgress.data, 200)}`}`,
    ],
  ]);
  out.line(out.paint('dim', 'args'));
  out.line(block(job.args));
  out.line(out.paint('dim', 'result'));
  out.line(block(job.result));
  out.line(out.paint('dim', `errors (${job.errors.length})`));
  for (const error of job.errors) {
    out.line(`  #${error.attempt} ${error.at}  ${out.paint('red', `${error.name ?? 'Error'}: ${error.message}`)}`);
    // The first frame says where; the whole stack is in --json.
    const frame = error.stack?.split('\n').find((l) => l.trim().startsWith('at '));
    if (frame !== undefined) out.line(`     ${out.paint('dim', frame.trim())}`);
  }
}
