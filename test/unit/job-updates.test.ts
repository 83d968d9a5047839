// The wire format of job updates: batched into NOTIFY payloads that each stay under PostgreSQL's
// 8000-byte limit, read back as written; an update too big alone loses its progress data; a
// payload that is not ours (anyone may NOTIFY) yields nothing and never throws.
import { describe, expect, it } from 'vitest';
import { encodeJobUpdates, parseJobUpdates } from '../../src/engine/notice.js';
import type { JobUpdate } from '../../src/index.js';

const update = (i: number, data: unknown = { i }): JobUpdate => ({
  id: String(i),
  queue: 'q',
  worker: 'w',
  state: 'executing',
  attempt: 1,
  kind: 'progress',
  progress: { percent: 50, data, at: '2026-12-05T00:00:00.000Z' },
  error: null,
  nodeId: 'node-1',
});

describe('job update payloads', () => {
  it('batch under the limit and read back as written', () => {
    const updates = Array.from({ length: 500 }, (_, i) => update(i));
    const payloads = encodeJobUpdates(updates);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
    expect(payloads.flatMap(parseJobUpdates)).toEqual(updates);
  });

  it('drop the progress data of an update too big alone', () => {
    const [payload, ...rest] = encodeJobUpdates([update(1, 'x'.repeat(20_000))]);
    expect(rest).toEqual([]);
    expect(Buffer.byteLength(payload!)).toBeLessThan(8000);
    expect(parseJobUpdates(payload!)[0]!.progress).toEqual({ percent: 50, data: null, at: '2026-12-05T00:00:00.000Z' });
  });

  it('read nothing from payloads that are not job updates', () => {
    for (const p of ['', 'not json', '{"queues":["a"]}', '{"u":5}', '{"u":[[1,2,3]]}', '{"u":[["1","q","w","done",1,"explode",null,null,null]]}']) {
      expect(parseJobUpdates(p)).toEqual([]);
    }
  });
});
