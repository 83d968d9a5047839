// How what perform returned or threw in a thread crosses to the main thread: through a real
// structured clone (as postMessage does), then rebuilt, it must give the same outcome as in-process.
import { describe, expect, it } from 'vitest';
import { WorkerResults } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { outcomeOf } from '../../src/runtime/outcome.js';
import type { Reply } from '../../src/runtime/threads/thread-protocol.js';
import { decodeReply, encodeReturn, encodeThrow, splitJob } from '../../src/runtime/threads/thread-protocol.js';

/** encode in the "thread", copy as postMessage would, decode in the "main thread". */
function cross(reply: Reply): ReturnType<typeof decodeReply> {
  return decodeReply(structuredClone(reply));
}

class QuotaError extends Error {
  readonly code = 'E_QUOTA';
  readonly retryIn = 5;
  constructor(message: string) {
    super(message);
    this.name = 'QuotaError';
  }
}

describe('thread protocol', () => {
  it('returns values as JSON, exactly as the main thread would store them', () => {
    expect(cross(encodeReturn({ a: 1, at: new Date(0), skip: () => 1 }))).toEqual({
      ok: true,
      value: { a: 1, at: '1970-01-01T00:00:00.000Z' },
    });
    expect(cross(encodeReturn(undefined))).toEqual({ ok: true, value: undefined });
    const bigint = cross(encodeReturn(10n));
    expect(bigint.ok).toBe(false);
    expect((bigint as { error: Error }).error.message).toMatch(/^perform returned a value that is not JSON: /);
  });

  it('rebuilds WorkerResults, whose symbol brand a copy would lose', () => {
    for (const result of [
      WorkerResults.ok({ v: 1 }),
      WorkerResults.snooze(1_000),
      WorkerResults.cancel('gone'),
      WorkerResults.discard('bad'),
    ]) {
      const crossed = cross(encodeReturn(result));
      expect(crossed.ok).toBe(true);
      expect(outcomeOf((crossed as { value: unknown }).value)).toEqual(outcomeOf(result));
    }
    const error = cross(encodeReturn(WorkerResults.error(new Error('later'), 250)));
    expect(outcomeOf((error as { value: unknown }).value)).toMatchObject({ kind: 'error', delayMs: 250, error: { message: 'later' } });
  });

  it('rebuilds thrown errors with message, name, stack and JSON-able own properties', () => {
    const thrown = new QuotaError('over quota');
    const crossed = cross(encodeThrow(thrown));
    expect(crossed.ok).toBe(false);
    const error = (crossed as { error: Error & Record<string, unknown> }).error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('over quota');
    expect(error.name).toBe('QuotaError');
    expect(error.stack).toBe(thrown.stack);
    expect(error.code).toBe('E_QUOTA');
    expect(error.retryIn).toBe(5);
    expect(cross(encodeThrow('a string'))).toEqual({ ok: false, error: 'a string' });
    expect(cross(encodeThrow({ reason: 'object' }))).toEqual({ ok: false, error: { reason: 'object' } });
    expect(cross(encodeThrow(7n))).toEqual({ ok: false, error: '7' });
  });

  it('splits a job into data to copy and the names of its methods', () => {
    const job = { id: '1', args: { n: 1 }, insertedAt: new Date(0), progress: async () => {} } as unknown as Job;
    const { data, methods } = splitJob(job);
    expect(methods).toEqual(['progress']);
    expect(structuredClone(data)).toEqual({ id: '1', args: { n: 1 }, insertedAt: new Date(0) });
  });
});
