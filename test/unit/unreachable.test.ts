// Which errors start() waits out (the database unreachable for now) and which it reports at once.
import { describe, expect, it } from 'vitest';
import { isUnreachable } from '../../src/definitions/unreachable.js';

const err = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? 'x')), fields);

describe('isUnreachable', () => {
  it('waits out a socket refused, reset or timed out, a failed lookup for now, and a server starting, stopping or full', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', '57P03', '57P01', '53300', '08006']) {
      expect(isUnreachable(err({ code })), code).toBe(true);
    }
    expect(isUnreachable(err({ message: 'Connection terminated unexpectedly' }))).toBe(true);
    expect(isUnreachable(err({ message: 'timeout exceeded when trying to connect' }))).toBe(true);
    expect(isUnreachable(err({ code: '08P01', message: 'pgbouncer cannot connect to server' }))).toBe(true);
    // Node's happy eyeballs: every address refused.
    expect(isUnreachable(Object.assign(new AggregateError([err({ code: 'ECONNREFUSED' }), err({ code: 'ECONNREFUSED' })]), {}))).toBe(true);
  });

  it('reports at once what waiting cannot fix', () => {
    for (const code of ['28P01', '3D000', '42P01', 'ENOTFOUND', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', '22P02']) {
      expect(isUnreachable(err({ code })), code).toBe(false);
    }
    // PgBouncer's 08P01 for a database it does not know.
    expect(isUnreachable(err({ code: '08P01', message: 'no such database: nope' }))).toBe(false);
    expect(isUnreachable(err({ message: 'Cannot use a pool after calling end on the pool' }))).toBe(false);
    expect(isUnreachable(new AggregateError([err({ code: 'ECONNREFUSED' }), err({ code: '28P01' })]))).toBe(false);
    expect(isUnreachable('ECONNREFUSED')).toBe(false);
    expect(isUnreachable(null)).toBe(false);
  });
});
