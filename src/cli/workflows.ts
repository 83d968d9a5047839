// `docket workflows get|cancel|retry`: a workflow with its steps, and the two actions on it.
// Each prints the workflow as it is afterwards (JSON: its WorkflowDetails).
import type { Queue, WorkflowDetails } from '../index.js';
import { idArgument, stringValue } from './args.js';
import type { Command, RunContext } from './command.js';
import { CliError, EXIT } from './exit.js';
import { when } from './output.js';

function printWorkflow({ out, now }: RunContext, wf: WorkflowDetails): void {
  out.line(`${out.paint('bold', `workflow ${wf.id}`)}  ${wf.name}  ${out.state(wf.state)}`);
  out.fields([
    ['tags', wf.tags.join(', ') || '-'],
    ['inserted', when(wf.insertedAt, now)],
    ['finished', when(wf.finishedAt, now)],
  ]);
  out.line();
  out.table(
    [{ header: 'STEP' }, { header: 'JOB', align: 'right' }, { header: 'WORKER' }, { header: 'STATE' }, { header: 'ATTEMPT', align: 'right' }, { header: 'DEPENDS ON' }],
    wf.steps.map((s) => [s.name, s.job.id, s.job.worker, out.state(s.job.state), `${s.job.attempt}/${s.job.maxAttempts}`, s.deps.join(', ') || '-']),
  );
}

interface WorkflowVerb {
  readonly verb: 'get' | 'cancel' | 'retry';
  readonly summary: string;
  readonly details: string;
  readonly reason?: boolean;
  readonly run: (queue: Queue, id: string, reason: string | undefined) => Promise<WorkflowDetails | null>;
}

const VERBS: readonly WorkflowVerb[] = [
  {
    verb: 'get',
    summary: 'a workflow, its state and every step (job, state, dependencies)',
    details: 'Example: docket workflows get 42',
    run: (queue, id) => queue.getWorkflow(id),
  },
  {
    verb: 'cancel',
    summary: 'cancel every unfinished step of a workflow (running ones are aborted)',
    details: 'The workflow ends cancelled.',
    reason: true,
    run: (queue, id, reason) => queue.cancelWorkflow(id, reason),
  },
  {
    verb: 'retry',
    summary: "run a workflow's discarded and cancelled steps again",
    details: 'Each goes back to waiting for its dependencies that are not completed; the workflow is running again.',
    run: (queue, id) => queue.retryWorkflow(id),
  },
];

function workflowCommand(spec: WorkflowVerb): Command {
  return {
    words: ['workflows', spec.verb],
    summary: spec.summary,
    args: '<id>',
    arity: [1, 1],
    options: spec.reason ? { reason: { type: 'string', value: '<text>', help: "why, stored in the cancelled steps' errors" } } : {},
    details: `${spec.details}\nJSON: the WorkflowDetails${spec.verb === 'get' ? '' : ' after'}. Exit 1 when there is no such workflow.`,
    prepare(values, [text]) {
      const id = idArgument(text, 'workflow');
      const reason = spec.reason ? stringValue(values, 'reason') : undefined;
      return async (ctx) => {
        const wf = await spec.run(ctx.queue, id, reason);
        if (wf === null) throw new CliError(EXIT.failed, `workflow ${id} not found`);
        if (ctx.json) ctx.out.json(wf);
        else printWorkflow(ctx, wf);
      };
    },
  };
}

/** The `workflows` commands. */
export const workflowCommands: readonly Command[] = VERBS.map(workflowCommand);
