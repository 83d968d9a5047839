// Queue controls reach a node out of order: a re-read that started before a change committed
// can answer after the node that made the change applied it from its own RETURNING. Before
// controls carried a version, that stale answer briefly un-paused the node (and a fetch in that
// window claimed jobs of a paused queue). The rule: an older version never overrides a newer one.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/config.js';
import { Producers } from '../../src/runtime/producers.js';
import type { ProducerHooks } from '../../src/runtime/producer.js';

function producers(): Producers {
  const config = resolveConfig({ connection: 'postgres://unused', queues: { q: 4 } }, () => 'node');
  const hooks: ProducerHooks = { execute: async () => {}, release: () => {}, held: () => false, onError: () => {} };
  // Never started: no fetch runs, so the engines are never called.
  const p = new Producers(config);
  p.create({} as never, () => hooks);
  return p;
}

describe('queue controls applied by version', () => {
  it('a stale read (older version) answering after a newer change does not undo it', () => {
    const p = producers();
    p.apply({ name: 'q', paused: true, concurrency: 3, version: 2 }); // this node's own change
    p.apply({ name: 'q', paused: false, concurrency: null, version: 1 }); // a re-read from before it
    expect(p.limits().get('q')).toBe(3);
    p.applyAll([]); // a read from before the queue had a row at all
    expect(p.limits().get('q')).toBe(3);
    p.apply({ name: 'q', paused: false, concurrency: null, version: 3 });
    expect(p.limits().get('q')).toBe(4);
  });

  it('the same version applies again: a row changed by hand with plain SQL is obeyed', () => {
    const p = producers();
    p.apply({ name: 'q', paused: false, concurrency: 2, version: 5 });
    p.applyAll([{ name: 'q', paused: false, concurrency: 1, version: 5 }]);
    expect(p.limits().get('q')).toBe(1);
  });
});
