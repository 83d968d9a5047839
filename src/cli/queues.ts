// `docket queues pause|resume|scale`: the persisted, cluster-wide queue controls. Each prints
// the queue's state afterwards (JSON: its QueueStats), so a script sees what it changed.
import type { QueueStats } from '../index.js';
import { parseInteger } from './args.js';
import type { Action, Command } from './command.js';
import { UsageError } from './exit.js';

function queueName(text: string | undefined): string {
  if (text === undefined) throw new UsageError('a queue name is required');
  return text;
}

/** Runs `change`, then prints the queue as it is now with `message`. */
function control(name: string, change: Action, message: (q: QueueStats | undefined) => string): Action {
  return async (ctx) => {
    await change(ctx);
    const stats = (await ctx.queue.queueStats()).find((q) => q.name === name);
    if (ctx.json) ctx.out.json(stats ?? null);
    else ctx.out.line(message(stats));
  };
}

const pause: Command = {
  words: ['queues', 'pause'],
  summary: 'stop every node from starting jobs of a queue (running ones finish)',
  args: '<name>',
  arity: [1, 1],
  options: {},
  details: 'Persisted: nodes started later obey it too. JSON: the QueueStats after.',
  prepare(_values, [text]) {
    const name = queueName(text);
    return control(name, ({ queue }) => queue.pauseQueue(name), () => `queue ${name} paused on every node`);
  },
};

const resume: Command = {
  words: ['queues', 'resume'],
  summary: 'let nodes start jobs of a paused queue again',
  args: '<name>',
  arity: [1, 1],
  options: {},
  details: 'JSON: the QueueStats after.',
  prepare(_values, [text]) {
    const name = queueName(text);
    return control(name, ({ queue }) => queue.resumeQueue(name), () => `queue ${name} resumed`);
  },
};

const scale: Command = {
  words: ['queues', 'scale'],
  summary: "set how many jobs of a queue run at once per node, or go back to each node's own setting",
  args: '<name> <n|default>',
  arity: [2, 2],
  options: {},
  details: [
    'docket queues scale images 2        at most 2 jobs of images at once on each node',
    'docket queues scale images 0        no new starts (like a pause)',
    "docket queues scale images default  each node's configured concurrency again",
    'JSON: the QueueStats after.',
  ].join('\n'),
  prepare(_values, [text, limitText]) {
    const name = queueName(text);
    const limit = limitText === 'default' ? null : parseInteger(limitText ?? '', 'the limit (or "default")', 0, 10_000);
    return control(
      name,
      ({ queue }) => queue.scaleQueue(name, limit),
      () => (limit === null ? `queue ${name}: each node uses its own concurrency` : `queue ${name}: at most ${limit} at once per node`),
    );
  },
};

/** The `queues` commands. */
export const queueCommands: readonly Command[] = [pause, resume, scale];
