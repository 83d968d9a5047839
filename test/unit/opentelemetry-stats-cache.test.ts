// The queue depth gauges' read of queue stats (docket/opentelemetry): one read serves every
// collection within its max age, concurrent collections share the read in flight, and a failed
// read is not kept (the next collection reads again).
import { describe, expect, it } from 'vitest';
import type { QueueStats } from '../../src/index.js';
import { StatsCache } from '../../src/opentelemetry/queue-depth.js';

function stats(name: string): QueueStats[] {
  return [{ name, paused: false, concurrency: null, localConcurrency: 1, counts: { held: 0, available: 1, scheduled: 0, executing: 0, retryable: 0, completed: 0, discarded: 0, cancelled: 0 }, total: 1, oldestAvailableMs: 5 }];
}

/** A read the test settles by hand, counting how often it was asked. */
function manualRead(): { read: () => Promise<QueueStats[]>; calls: () => number; settle: (value: QueueStats[] | Error) => void } {
  const pending: ((value: QueueStats[] | Error) => void)[] = [];
  return {
    read: () =>
      new Promise<QueueStats[]>((resolve, reject) => {
        pending.push((value) => (value instanceof Error ? reject(value) : resolve(value)));
      }),
    calls: () => pending.length,
    settle: (value) => pending.at(-1)!(value),
  };
}

describe('StatsCache', () => {
  it('shares the read in flight between concurrent collections', async () => {
    const source = manualRead();
    const cache = new StatsCache(source.read, 0);
    const first = cache.get();
    const second = cache.get();
    expect(source.calls()).toBe(1);
    source.settle(stats('a'));
    expect(await first).toEqual(stats('a'));
    expect(await second).toBe(await first);
  });

  it('serves collections within the max age from the last read, and reads again with a max age of 0', async () => {
    const source = manualRead();
    const cached = new StatsCache(source.read, 3_600_000);
    const pending = cached.get();
    source.settle(stats('a'));
    await pending;
    expect(await cached.get()).toEqual(stats('a'));
    expect(source.calls()).toBe(1);

    const fresh = new StatsCache(source.read, 0);
    const one = fresh.get();
    source.settle(stats('b'));
    await one;
    const two = fresh.get();
    expect(source.calls()).toBe(3);
    source.settle(stats('c'));
    expect(await two).toEqual(stats('c'));
  });

  it('keeps no failed read: the next collection reads again', async () => {
    const source = manualRead();
    const cache = new StatsCache(source.read, 3_600_000);
    const failing = cache.get();
    source.settle(new Error('connection refused'));
    await expect(failing).rejects.toThrow('connection refused');
    const retried = cache.get();
    expect(source.calls()).toBe(2);
    source.settle(stats('a'));
    expect(await retried).toEqual(stats('a'));
  });
});
