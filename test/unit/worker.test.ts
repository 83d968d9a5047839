// Pure pieces: backoff, outcome classification, and the listener-isolating emitter.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker, WorkerResults, defaultBackoff } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { SafeEmitter } from '../../src/definitions/events.js';
import { buildAck, outcomeOf } from '../../src/runtime/outcome.js';

const job = (attempt: number, maxAttempts: number): Job => ({
  id: '1', worker: 'w', queue: 'default', state: 'executing', args: {}, tags: [], priority: 0, attempt, maxAttempts,
  errors: [], result: null, attemptedBy: 'n', lastProgress: null, insertedAt: new Date(), scheduledAt: new Date(), attemptedAt: new Date(), completedAt: null, workflow: null, meta: {},
});
const worker = new Worker({ name: 'w', args: z.object({}), perform: () => null, backoff: (n) => n * 100 });
const timing = { queueTime: 1, runTime: 2 };
const CLAIM = '00000000-0000-4000-8000-000000000001';

describe('defaultBackoff', () => {
  it('grows exponentially within ±20 % and caps at an hour', () => {
    for (let attempt = 1; attempt <= 30; attempt++) {
      const base = Math.min(1000 * 2 ** attempt, 3_600_000);
      const ms = defaultBackoff(attempt, null);
      expect(ms).toBeGreaterThanOrEqual(base * 0.8 - 1);
      expect(ms).toBeLessThanOrEqual(base * 1.2 + 1);
    }
  });
});

describe('buildAck', () => {
  it('completes with a JSON copy of the value', () => {
    const ack = buildAck(job(1, 3), CLAIM, worker, outcomeOf({ a: 1, d: new Date(0) }), timing);
    expect(ack.state).toBe('completed');
    expect(JSON.parse(ack.resultJson!)).toEqual({ a: 1, d: '1970-01-01T00:00:00.000Z' });
    expect(JSON.parse(ack.json).result).toEqual({ a: 1, d: '1970-01-01T00:00:00.000Z' });
    expect(JSON.parse(ack.json)).toMatchObject({ id: '1', claim: CLAIM, state: 'completed' });
  });

  it('retries with the worker backoff, then discards on the last attempt', () => {
    const retry = buildAck(job(2, 3), CLAIM, worker, { kind: 'error', error: new Error('x') }, timing);
    expect(retry.state).toBe('retryable');
    expect(JSON.parse(retry.json)).toMatchObject({ delay_ms: 200, error: { attempt: 2, message: 'x', name: 'Error' } });
    expect(buildAck(job(3, 3), CLAIM, worker, { kind: 'error', error: 'plain string' }, timing).state).toBe('discarded');
  });

  it('honours an explicit error delay and survives a throwing backoff', () => {
    const explicit = buildAck(job(1, 3), CLAIM, worker, outcomeOf(WorkerResults.error(new Error('x'), 5)), timing);
    expect(JSON.parse(explicit.json).delay_ms).toBe(5);
    const broken = new Worker({ name: 'b', args: z.object({}), perform: () => null, backoff: () => { throw new Error('bug'); } });
    const ack = buildAck(job(1, 3), CLAIM, broken, { kind: 'error', error: new Error('x') }, timing);
    expect(JSON.parse(ack.json).delay_ms).toBeGreaterThan(0);
  });

  it('snooze and shutdown refund the attempt; cancel and discard are final', () => {
    expect(JSON.parse(buildAck(job(1, 1), CLAIM, worker, outcomeOf(WorkerResults.snooze(50)), timing).json)).toMatchObject({ state: 'scheduled', refund: true, delay_ms: 50 });
    expect(JSON.parse(buildAck(job(1, 1), CLAIM, worker, { kind: 'shutdown', error: new Error('stop') }, timing).json)).toMatchObject({ state: 'retryable', refund: true, delay_ms: 0 });
    expect(buildAck(job(1, 5), CLAIM, worker, outcomeOf(WorkerResults.cancel('no')), timing).state).toBe('cancelled');
    expect(buildAck(job(1, 5), CLAIM, worker, outcomeOf(WorkerResults.discard('no')), timing).state).toBe('discarded');
  });

  it('rejects negative or non-finite delays in results', () => {
    expect(() => WorkerResults.snooze(-1)).toThrow(/delay/);
    expect(() => WorkerResults.error(new Error('x'), Number.NaN)).toThrow(/delay/);
  });
});

describe('SafeEmitter', () => {
  const logger = { debug() {}, info() {}, warn() {}, error: (m: string) => void reported.push(m) };
  const reported: string[] = [];

  it('runs every listener even when one throws, and reports the throw', () => {
    const emitter = new SafeEmitter(logger);
    const seen: number[] = [];
    emitter.on('queue:stop', () => seen.push(1));
    emitter.on('queue:stop', () => {
      throw new Error('bad listener');
    });
    emitter.on('queue:stop', () => seen.push(3));
    expect(emitter.emit('queue:stop', { aborted: 0 })).toBe(true);
    expect(seen).toEqual([1, 3]);
    expect(reported.some((m) => m.includes('queue:stop'))).toBe(true);
  });

  it('removes once() listeners after their first call', () => {
    const emitter = new SafeEmitter(logger);
    let calls = 0;
    emitter.once('queue:stop', () => calls++);
    emitter.emit('queue:stop', { aborted: 0 });
    emitter.emit('queue:stop', { aborted: 0 });
    expect(calls).toBe(1);
    expect(emitter.listenerCount('queue:stop')).toBe(0);
  });
});
