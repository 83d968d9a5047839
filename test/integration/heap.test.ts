// Huge args and the heap (issue 15, scenario 10): a node inserting args of 10 MiB (under a
// 16 MiB maxArgsBytes) or 100 MiB (over the default 1 MiB) runs in a child whose V8 heap is
// capped at 3 × the payload plus what it used before the payload existed: running out of heap
// kills it, and fails this test. The accepted payload is stored byte for byte (its md5 in the
// database), the refused one is refused with ArgsValidationError and writes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnReporter, type ReportingChild } from '../support/child.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('heap');
const MiB = 1_048_576;
const children: ReportingChild[] = [];
afterAll(() => {
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
});

// What the child's heap holds before the payload: modules, the queue, a pool, one round trip.
// Measured at ~25 MiB (the child reports it); allowed 64.
const BASELINE_MIB = 64;

async function run(payloadMiB: number, limitMiB: number): Promise<Record<string, unknown>> {
  const capMiB = 3 * payloadMiB + BASELINE_MIB;
  const node = spawnReporter('test/fixtures/heap-child.ts', {
    DATABASE_URL: db.url,
    DOCKET_SCHEMA: db.schema,
    DOCKET_PAYLOAD_MIB: String(payloadMiB),
    DOCKET_LIMIT_MIB: String(limitMiB),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${capMiB} --expose-gc`.trim(),
  });
  children.push(node);
  const exit = await node.exited;
  expect(exit, `the child ran out of its ${capMiB} MiB heap or failed: ${node.stderr().slice(-2000)}`).toEqual({ code: 0, signal: null });
  const ready = node.events.find((e) => e.event === 'ready')!;
  expect(Number(ready.heapUsed) / MiB, 'heap in use before the payload (MiB)').toBeLessThan(BASELINE_MIB);
  const outcome = node.events.find((e) => e.event === 'inserted' || e.event === 'refused')!;
  console.log(`[heap] ${payloadMiB} MiB of args: ${String(outcome.event)} in a heap capped at ${capMiB} MiB (${(Number(ready.heapUsed) / MiB).toFixed(1)} MiB in use before the payload)`);
  return outcome;
}

describe('the heap under huge args', () => {
  it('accepts 10 MiB under a 16 MiB limit within 3 × the payload of heap, stored byte for byte', async () => {
    await db.queue({ queues: {} }); // migrates the schema
    const outcome = await run(10, 16);
    expect(outcome.event).toBe('inserted');
    const { rows } = await db.pool.query<{ md5: string }>(`SELECT md5(args->>'text') AS md5 FROM "${db.schema}".jobs WHERE id = $1`, [outcome.id]);
    expect(rows[0]!.md5).toBe(outcome.md5);
  }, 120_000);

  it('refuses 100 MiB over the default limit within 3 × the payload of heap, writing nothing', async () => {
    const before = await db.count();
    const outcome = await run(100, 1);
    expect(outcome).toMatchObject({ event: 'refused', name: 'ArgsValidationError' });
    expect(String(outcome.message)).toMatch(/over the limit of 1048576/);
    expect(await db.count()).toBe(before);
  }, 120_000);
});
