// The public JSON view of a docket workflow: its state and tenant, and every step with its
// dependencies, state, attempts, result, errors and progress, plus the files the step wrote
// (each with the URL of GET /jobs/:id/files/:name, which serves it). A short form without
// files serves the dashboard's list.
import { tenantOfJob } from '../tenancy/request-tenant.js';
import { z } from 'zod';
import type { WorkflowDetails, WorkflowStep } from 'docket';
import type { Storage } from '../storage.js';
import { jobView, toJobView } from './common.js';

export const WORKFLOW_STATES = ['running', 'completed', 'failed', 'cancelled'] as const;

const fileView = z.object({ name: z.string(), bytes: z.number().int(), url: z.string() });

const stepView = jobView
  .pick({ state: true, worker: true, queue: true, attempt: true, maxAttempts: true, result: true, errors: true, progress: true, insertedAt: true, attemptedAt: true, completedAt: true })
  .extend({
    name: z.string(),
    deps: z.array(z.string()),
    jobId: z.string(),
    links: z.object({ job: z.string(), files: z.string() }),
    files: z.array(fileView),
  })
  .describe('A step of a workflow: a job, its dependencies and its result files');

export const workflowView = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(WORKFLOW_STATES),
    tenantId: z.string().nullable(),
    tags: z.array(z.string()),
    insertedAt: z.string(),
    finishedAt: z.string().nullable(),
    links: z.object({ self: z.string() }),
    steps: z.array(stepView),
  })
  .describe('A workflow with every step');

export const workflowSummaryView = workflowView
  .omit({ steps: true, links: true })
  .extend({ steps: z.array(z.object({ name: z.string(), state: jobView.shape.state, jobId: z.string(), deps: z.array(z.string()) })) })
  .describe('A workflow and the states of its steps');

export type WorkflowView = z.infer<typeof workflowView>;
export type WorkflowSummaryView = z.infer<typeof workflowSummaryView>;

/** The tenant a workflow belongs to, from its `tenant:<id>` tag. */
export function tenantOfTags(tags: readonly string[]): string | null {
  return tenantOfJob({ tags });
}

function header(wf: WorkflowDetails) {
  return {
    id: wf.id,
    name: wf.name,
    state: wf.state,
    tenantId: tenantOfTags(wf.tags),
    tags: [...wf.tags],
    insertedAt: wf.insertedAt.toISOString(),
    finishedAt: wf.finishedAt?.toISOString() ?? null,
  };
}

async function toStepView(step: WorkflowStep, storage: Storage): Promise<z.infer<typeof stepView>> {
  const { id } = step.job;
  const job = toJobView(step.job);
  // A step's files are in its tenant's folder (the `tenant:<id>` tag every step carries).
  const files = (await storage.ofTenant(tenantOfTags(step.job.tags))?.list(id)) ?? [];
  return {
    name: step.name,
    deps: [...step.deps],
    jobId: id,
    state: job.state,
    worker: job.worker,
    queue: job.queue,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    result: job.result,
    errors: job.errors,
    progress: job.progress,
    insertedAt: job.insertedAt,
    attemptedAt: job.attemptedAt,
    completedAt: job.completedAt,
    links: { job: `/jobs/${id}`, files: `/jobs/${id}/files` },
    files: files.map((f) => ({ name: f.name, bytes: f.bytes, url: `/jobs/${id}/files/${encodeURIComponent(f.name)}` })),
  };
}

/** The full view, with each step's files listed from storage. */
export async function toWorkflowView(wf: WorkflowDetails, storage: Storage): Promise<WorkflowView> {
  return { ...header(wf), links: { self: `/workflows/${wf.id}` }, steps: await Promise.all(wf.steps.map((s) => toStepView(s, storage))) };
}

/** The short view (no files, no results). */
export function toWorkflowSummary(wf: WorkflowDetails): WorkflowSummaryView {
  return { ...header(wf), steps: wf.steps.map((s) => ({ name: s.name, state: s.job.state, jobId: s.job.id, deps: [...s.deps] })) };
}
