// `docket migrate` and `docket status`: the schema, and the cluster at a glance (queues with
// their counts, pause and limit, and oldest waiting job; nodes with host, pid, queues and how
// long each has been silent; the leader).
import { JOB_STATES } from '../index.js';
import type { NodeInfo, QueueStats } from '../index.js';
import type { Command, RunContext } from './command.js';
import { duration, relative } from './output.js';

const migrate: Command = {
  words: ['migrate'],
  summary: "create or upgrade docket's tables (safe to run from many places at once)",
  arity: [0, 0],
  options: {},
  details: 'JSON: { schema, applied: number[], version }',
  prepare: () => async ({ queue, out, json }) => {
    const report = await queue.migrate();
    if (json) return out.json({ schema: queue.schema, applied: report.applied, version: report.version });
    out.line(
      report.applied.length === 0
        ? `schema ${queue.schema} is up to date (version ${report.version})`
        : `schema ${queue.schema}: applied migration${report.applied.length === 1 ? '' : 's'} ${report.applied.join(', ')}; now at version ${report.version}`,
    );
  },
};

function printQueues({ out }: RunContext, queues: readonly QueueStats[]): void {
  if (queues.length === 0) {
    out.line('no queues yet: no job was inserted and no queue was paused or scaled');
    return;
  }
  out.table(
    [{ header: 'QUEUE' }, { header: 'STATUS' }, { header: 'LIMIT', align: 'right' }, ...JOB_STATES.map((s) => ({ header: s.toUpperCase(), align: 'right' as const })), { header: 'OLDEST WAITING', align: 'right' }],
    queues.map((q) => [
      q.name,
      q.paused ? out.state('paused') : 'running',
      q.concurrency === null ? 'default' : String(q.concurrency),
      ...JOB_STATES.map((s) => (q.counts[s] === 0 ? out.paint('dim', '0') : String(q.counts[s]))),
      q.oldestAvailableMs === null ? '-' : duration(q.oldestAvailableMs),
    ]),
  );
}

function printNodes({ out, now }: RunContext, nodes: readonly NodeInfo[]): void {
  if (nodes.length === 0) {
    out.line('no nodes: no started Queue has a heartbeat in this schema');
    return;
  }
  out.table(
    [{ header: 'NODE' }, { header: 'HOST' }, { header: 'PID', align: 'right' }, { header: 'QUEUES' }, { header: 'STARTED' }, { header: 'SILENT', align: 'right' }, { header: 'ROLE' }],
    nodes.map((n) => [
      n.id,
      n.host,
      String(n.pid),
      Object.entries(n.queues)
        .map(([name, limit]) => `${name}:${limit}`)
        .join(', ') || '-',
      relative(n.startedAt, now),
      duration(n.silentMs),
      n.leader ? out.paint('bold', 'leader') : '',
    ]),
  );
}

const status: Command = {
  words: ['status'],
  summary: 'queues (counts, paused, limit, oldest waiting job), nodes and the leader',
  arity: [0, 0],
  options: {},
  details: [
    'LIMIT is the per-node limit set by `docket queues scale` ("default": each node\'s own setting).',
    "OLDEST WAITING is how long the oldest available job has waited since it was due.",
    'JSON: { schema, leader: node id | null, queues: QueueStats[], nodes: NodeInfo[] } (see queue.queueStats(), queue.nodes()).',
  ].join('\n'),
  prepare: () => async (ctx) => {
    const { queue, out, json } = ctx;
    const [queues, nodes] = await Promise.all([queue.queueStats(), queue.nodes()]);
    const leader = nodes.find((n) => n.leader);
    if (json) return out.json({ schema: queue.schema, leader: leader?.id ?? null, queues, nodes });
    out.line(`schema ${out.paint('bold', queue.schema)} · leader ${leader === undefined ? out.paint('yellow', 'none') : `${out.paint('bold', leader.id)} (${leader.host}, pid ${leader.pid})`}`);
    out.line();
    printQueues(ctx, queues);
    out.line();
    printNodes(ctx, nodes);
  },
};

/** The `migrate` and `status` commands. */
export const migrateStatusCommands: readonly Command[] = [migrate, status];
