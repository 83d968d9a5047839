// A workflow step as collected before it is checked and written (by the builder, or by a running
// step's `addSteps`), and the check of a step or workflow name, which `add` runs at once.
import { WorkflowError } from './errors.js';
import { storableText } from './storable-text.js';
import type { StepOptions } from './workflow.js';

/** One step as the builder (or `job.addSteps`) collected it. */
export interface PlannedStep {
  readonly name: string;
  readonly worker: { readonly name: string } | string;
  readonly args: unknown;
  readonly options: StepOptions;
  /** Only for added steps: held steps that must wait for this one. */
  readonly dependents?: readonly string[];
}

const NAME_MAX = 128;

/** Checks a step or workflow name. */
export function checkStepName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > NAME_MAX || !storableText(name)) {
    throw new WorkflowError(`${what} must be a string of 1–${NAME_MAX} characters (no NUL or lone surrogates), got ${JSON.stringify(name)}`);
  }
  return name;
}

