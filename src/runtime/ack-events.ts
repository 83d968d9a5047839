// What a landed ack means to listeners: the job as it is now, and the events its outcome emits
// (job:complete, job:error + job:retry, job:snooze, job:cancel, job:discard). Shared by the
// running queue and the testing modes, so both emit exactly the same events.
import type { AckedRow } from '../engine/types.js';
import type { SafeEmitter } from '../definitions/events.js';
import type { Job, JobError, JobState } from '../definitions/job.js';
import type { PendingAck } from './outcome.js';

/** Follow-ups an outcome asks of the runtime. */
export interface AckFollowUps {
  /** A job will be due again in `delayMs` (retry, snooze). */
  dueIn(delayMs: number): void;
  /** A prefetched job went back to `available` in this queue. */
  released(queue: string): void;
  /** A workflow step's ack landed (testing modes): settle its workflow before going on. */
  stepFinished?(job: Job, state: JobState): Promise<void>;
}

/** The job after its ack landed. */
export function jobAfterAck(ack: PendingAck, row: AckedRow): { job: Job; error: JobError | undefined } {
  const error = row.error === null ? undefined : (JSON.parse(row.error) as JobError);
  const job: Job = {
    ...ack.job,
    state: ack.state,
    attempt: Number(row.attempt),
    scheduledAt: new Date(Number(row.scheduled_at)),
    completedAt: row.completed_at === null ? null : new Date(Number(row.completed_at)),
    errors: error === undefined ? ack.job.errors : [...ack.job.errors, error],
    result: ack.resultJson === null ? ack.job.result : (JSON.parse(ack.resultJson) as unknown),
  };
  return { job, error };
}

/** Emits the events of a landed ack and asks for its follow-ups. */
export function emitAckEvents(emitter: SafeEmitter, ack: PendingAck, row: AckedRow, follow: AckFollowUps): void {
  // The hot path: a completion nobody listens to needs no Job rebuilt.
  if (ack.event.type === 'complete' && emitter.listenerCount('job:complete') === 0) return;
  const { job, error } = jobAfterAck(ack, row);
  const timing = { queueTime: ack.queueTime, runTime: ack.runTime };
  const event = ack.event;
  switch (event.type) {
    case 'complete':
      emitter.emit('job:complete', { job, ...timing });
      break;
    case 'retry':
      emitter.emit('job:error', { job, error: error!, ...timing });
      emitter.emit('job:retry', { job, error: error!, delay: event.delay, ...timing });
      follow.dueIn(event.delay);
      break;
    case 'shutdown':
      emitter.emit('job:error', { job, error: error!, ...timing });
      emitter.emit('job:retry', { job, error: error!, delay: 0, ...timing });
      break;
    case 'snooze':
      emitter.emit('job:snooze', { job, delay: event.delay, ...timing });
      follow.dueIn(event.delay);
      break;
    case 'release':
      // The job is available again: tell the nodes (this one included, unless stopping).
      follow.released(job.queue);
      break;
    case 'cancel':
      emitter.emit('job:cancel', { job, reason: event.reason, ...timing });
      break;
    case 'discard':
      if (event.failed) emitter.emit('job:error', { job, error: error!, ...timing });
      emitter.emit('job:discard', { job, reason: event.reason, ...timing });
      break;
  }
}
