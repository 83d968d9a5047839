// The names spans and metrics carry: OpenTelemetry's messaging semantic conventions where they
// have one (docket is the messaging system, a queue the destination, a job the message), and
// `docket.*` for what only docket knows (worker, attempt, outcome, state).

/** `messaging.system`: the messaging system, always {@link SYSTEM}. */
export const MESSAGING_SYSTEM = 'messaging.system';
/** `messaging.operation.name`: the system-specific operation, `send` or `process`. */
export const MESSAGING_OPERATION_NAME = 'messaging.operation.name';
/** `messaging.operation.type`: the kind of operation, `send` or `process`. */
export const MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
/** `messaging.destination.name`: the job's queue. */
export const MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
/** `messaging.message.id`: the job's id (on spans of one job only). */
export const MESSAGING_MESSAGE_ID = 'messaging.message.id';
/** `messaging.batch.message_count`: how many jobs one insert call wrote, when not one. */
export const MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
/** `error.type`: the class of a failure (an error's name), set only when the operation failed. */
export const ERROR_TYPE = 'error.type';

/** `docket.worker`: the worker's name. */
export const DOCKET_WORKER = 'docket.worker';
/** `docket.attempt`: the attempt's number, 1 for the first. */
export const DOCKET_ATTEMPT = 'docket.attempt';
/** `docket.max_attempts`: how many attempts the job may use. */
export const DOCKET_MAX_ATTEMPTS = 'docket.max_attempts';
/** `docket.outcome`: how an attempt ended: `complete`, `error`, `snooze`, `cancel` or `discard`. */
export const DOCKET_OUTCOME = 'docket.outcome';
/** `docket.outcome.reason`: the reason a worker gave when it cancelled or discarded its job. */
export const DOCKET_OUTCOME_REASON = 'docket.outcome.reason';
/** `docket.snooze.delay_ms`: how long a snoozed job waits before it runs again. */
export const DOCKET_SNOOZE_DELAY = 'docket.snooze.delay_ms';
/** `docket.workflow.id` and `docket.workflow.step`: where a workflow step sits. */
export const DOCKET_WORKFLOW_ID = 'docket.workflow.id';
export const DOCKET_WORKFLOW_STEP = 'docket.workflow.step';
/** `docket.workflow.name`: on the send span of a workflow's start (one span for all its steps). */
export const DOCKET_WORKFLOW_NAME = 'docket.workflow.name';
/** `docket.job.args`: the job's args as JSON, only with the `captureArgs` option. */
export const DOCKET_JOB_ARGS = 'docket.job.args';
/** `docket.job.state`: a job state, on the queue depth gauge. */
export const DOCKET_JOB_STATE = 'docket.job.state';
/** `docket.in_transaction`: whether an insert ran inside the host's transaction. */
export const DOCKET_IN_TRANSACTION = 'docket.in_transaction';

/** The value of `messaging.system`. */
export const SYSTEM = 'docket';

/** The exception recorded on the span of an attempt whose worker discarded its job. */
export const DISCARD_EXCEPTION = 'JobDiscarded';

/** The `error.type` of a failure: the error's name, or `_OTHER` for something thrown that is not an Error. */
export function errorType(error: unknown): string {
  if (error instanceof Error) return error.name || error.constructor.name || 'Error';
  if (error !== null && typeof error === 'object' && typeof (error as { name?: unknown }).name === 'string') return (error as { name: string }).name;
  return '_OTHER';
}

/** A message for a span's status from whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error !== null && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  return String(error);
}
