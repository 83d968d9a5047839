// Unique identities: what counts as "the same job", and which options are refused.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { filterParams } from '../../src/admin/job-filter.js';
import { resolveUnique, uniqueKey } from '../../src/insert/unique.js';

const key = (by: Parameters<typeof resolveUnique>[0], worker: string, queue: string, args: unknown): string =>
  uniqueKey(resolveUnique(by, 'test'), worker, queue, args);

describe('unique keys', () => {
  it('ignore the order of object keys at every depth', () => {
    expect(key({}, 'w', 'q', { a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } })).toBe(
      key({}, 'w', 'q', { b: { d: [1, { f: 4, e: 3 }], c: 2 }, a: 1 }),
    );
    expect(key({}, 'w', 'q', { a: [1, 2] })).not.toBe(key({}, 'w', 'q', { a: [2, 1] }));
  });

  it('follow `by`: worker, queue, all args, or some arg keys', () => {
    expect(key({}, 'w1', 'q', { a: 1 })).not.toBe(key({}, 'w2', 'q', { a: 1 }));
    expect(key({ by: ['args'] }, 'w1', 'q1', { a: 1 })).toBe(key({ by: ['args'] }, 'w2', 'q2', { a: 1 }));
    expect(key({ by: ['worker', ['user']] }, 'w', 'q', { user: 7, at: 1 })).toBe(key({ by: ['worker', ['user']] }, 'w', 'q', { user: 7, at: 2 }));
    expect(key({ by: ['worker', ['user']] }, 'w', 'q', { user: 7 })).not.toBe(key({ by: ['worker', ['user']] }, 'w', 'q', { user: 8 }));
    // A missing key and an explicit null are the same identity.
    expect(key({ by: [['user']] }, 'w', 'q', {})).toBe(key({ by: [['user']] }, 'w', 'q', { user: null }));
  });

  it('differ when the unique states differ', () => {
    expect(key({}, 'w', 'q', {})).not.toBe(key({ states: ['available', 'scheduled', 'executing', 'retryable', 'completed'] }, 'w', 'q', {}));
    expect(key({ states: ['retryable', 'executing', 'scheduled', 'available'] }, 'w', 'q', {})).toBe(key({}, 'w', 'q', {}));
  });

  it('refuse bad options with a ConfigError naming the problem', () => {
    expect(() => resolveUnique({ by: [] }, 'x')).toThrow(/unique.by/);
    expect(() => resolveUnique({ by: ['tenant' as never] }, 'x')).toThrow(ConfigError);
    expect(() => resolveUnique({ by: [[]] }, 'x')).toThrow(ConfigError);
    expect(() => resolveUnique({ period: 0 }, 'x')).toThrow(/period/);
    expect(() => resolveUnique({ period: 1.5 }, 'x')).toThrow(/period/);
    expect(() => resolveUnique({ states: ['available'] }, 'x')).toThrow(/must include scheduled, executing, retryable/);
    expect(() => resolveUnique({ states: ['available', 'nope' as never] }, 'x')).toThrow(ConfigError);
    expect(resolveUnique({ period: 'infinity' }, 'x').period).toBeNull();
  });
});

describe('job filters', () => {
  it('become five array literals, NULL for any', () => {
    expect(filterParams({ queue: 'a', state: ['available', 'scheduled'], tags: ['t'] }, false)).toEqual([
      null,
      '{"a"}',
      '{"available","scheduled"}',
      null,
      '{"t"}',
    ]);
    expect(filterParams({ ids: [1, '2', 3n] }, false)[0]).toBe('{"1","2","3"}');
    expect(filterParams({ ids: [] }, false)[0]).toBe('{}');
  });

  it('quote every element, so no value can be read as syntax', () => {
    expect(filterParams({ tags: ['a,b', 'q"x', 'back\\slash', '{}', 'NULL', '', ' padded '] }, false)[4]).toBe(
      '{"a,b","q\\"x","back\\\\slash","{}","NULL",""," padded "}',
    );
  });

  it('refuse empty filters for bulk actions, bad ids and unknown states', () => {
    expect(() => filterParams({}, false)).toThrow(/empty/);
    expect(filterParams({}, true)).toEqual([null, null, null, null, null]);
    expect(() => filterParams({ ids: ['0'] }, false)).toThrow(ConfigError);
    expect(() => filterParams({ ids: ['1; drop table'] }, false)).toThrow(ConfigError);
    expect(() => filterParams({ state: 'done' as never }, false)).toThrow(ConfigError);
  });
});
