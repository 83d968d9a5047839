// `docket schedules list|set|remove`: the persisted cron schedules the leader's Cron plugin
// enqueues. Changes apply cluster-wide at the leader's next tick.
import type { Schedule, ScheduleDefinition } from '../index.js';
import type { Values } from './args.js';
import { choiceValue, intValue, listValue, stringValue } from './args.js';
import type { Command, RunContext } from './command.js';
import { CliError, EXIT, UsageError } from './exit.js';
import { compactJson, when } from './output.js';

const list: Command = {
  words: ['schedules', 'list'],
  summary: 'every cron schedule, with its next and last tick',
  arity: [0, 0],
  options: {},
  details: 'JSON: Schedule[] (see queue.schedules.list()).',
  prepare: () => async ({ queue, out, json, now }) => {
    const schedules = await queue.schedules.list();
    if (json) return out.json(schedules);
    if (schedules.length === 0) return out.line('no schedules');
    out.table(
      [{ header: 'NAME' }, { header: 'EXPRESSION' }, { header: 'TIMEZONE' }, { header: 'WORKER' }, { header: 'ARGS' }, { header: 'NEXT' }, { header: 'LAST' }, { header: 'MISSED' }],
      schedules.map((s) => [s.name, s.expression, s.timezone, s.worker, compactJson(s.args, 40), when(s.nextAt, now), when(s.lastAt, now), s.missed]),
    );
  },
};

function parseJsonArgs(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`--args must be JSON, e.g. --args '{"to":"ops"}': ${(error as Error).message}`);
  }
}

function definition(values: Values, [name, expression, worker]: readonly string[]): ScheduleDefinition {
  if (name === undefined || expression === undefined || worker === undefined) {
    throw new UsageError('usage: docket schedules set <name> <expression> <worker> [--args JSON] [--timezone zone]');
  }
  const priority = intValue(values, 'priority', -32768, 32767);
  const maxAttempts = intValue(values, 'max-attempts', 1, 32767);
  const tags = listValue(values, 'tag', false);
  const timezone = stringValue(values, 'timezone');
  const missed = choiceValue(values, 'missed', ['skip', 'last'] as const);
  return {
    name,
    expression,
    worker,
    args: parseJsonArgs(stringValue(values, 'args')),
    ...(timezone === undefined ? {} : { timezone }),
    ...(missed === undefined ? {} : { missed }),
    opts: {
      ...(priority === undefined ? {} : { priority }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
      ...(tags.length === 0 ? {} : { tags }),
    },
  };
}

function printSet({ out, now }: RunContext, s: Schedule): void {
  out.line(`schedule ${s.name}: ${s.expression} (${s.timezone}) → ${s.worker} ${compactJson(s.args, 80)}`);
  out.line(out.paint('dim', `next tick: ${s.nextAt === null ? "computed by the leader's Cron plugin" : when(s.nextAt, now)}`));
}

const set: Command = {
  words: ['schedules', 'set'],
  summary: 'add or change a cron schedule',
  args: '<name> <expression> <worker>',
  arity: [3, 3],
  options: {
    args: { type: 'string', value: '<json>', help: 'args of every job it enqueues (default {})' },
    timezone: { type: 'string', value: '<zone>', help: 'IANA time zone the expression is read in (default UTC)' },
    priority: { type: 'string', value: '<n>', help: 'priority of its jobs' },
    'max-attempts': { type: 'string', value: '<n>', help: 'attempts of its jobs' },
    tag: { type: 'string', multiple: true, value: '<tag>', help: 'a tag of its jobs (repeat for several)' },
    missed: { type: 'string', value: 'skip|last', help: "ticks missed while no node ran: skip them (default) or enqueue the last one" },
  },
  details: [
    "Example: docket schedules set nightly-report '0 3 * * *' build-report --args '{\"format\":\"pdf\"}' --timezone Europe/Paris",
    "The expression has five fields (minute hour day-of-month month day-of-week), or six with seconds first.",
    "The args are checked by the worker's schema when each tick is enqueued (the CLI does not know your workers).",
    'JSON: the Schedule as stored.',
  ].join('\n'),
  prepare(values, args) {
    const def = definition(values, args);
    // The CLI's Queue has no workers: it stores the schedule unchecked by worker and args (see Schedules.set).
    return async (ctx) => {
      const stored = await ctx.queue.schedules.set(def);
      if (ctx.json) ctx.out.json(stored);
      else printSet(ctx, stored);
    };
  },
};

const remove: Command = {
  words: ['schedules', 'remove'],
  summary: 'remove a cron schedule (jobs it enqueued stay)',
  args: '<name>',
  arity: [1, 1],
  options: {},
  details: 'JSON: { removed: name }. Exit 1 when there is no such schedule.',
  prepare(_values, [name]) {
    if (name === undefined) throw new UsageError('a schedule name is required');
    return async ({ queue, out, json }) => {
      if (!(await queue.schedules.remove(name))) throw new CliError(EXIT.failed, `no schedule named "${name}"`);
      if (json) out.json({ removed: name });
      else out.line(`schedule ${name} removed`);
    };
  },
};

/** The `schedules` commands. */
export const scheduleCommands: readonly Command[] = [list, set, remove];
