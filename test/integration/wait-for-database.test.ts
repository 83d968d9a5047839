// start() on a node whose database cannot be reached: it waits (warning every 10 s) until it
// can, gives up after waitForDatabase, ends its wait when stop() is called, and reports at once
// what waiting cannot fix. (restart.test.ts shows it starting once the server is back.)
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, Queue, QueueStateError } from '../../src/index.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('waitdb');

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port; // nothing listens there now
}

function capture(): { lines: string[]; logger: { debug(): void; info(m: string): void; warn(m: string): void; error(m: string): void } } {
  const lines: string[] = [];
  return { lines, logger: { debug() {}, info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) } };
}

describe('start() without a database', () => {
  it('waits, warning, until stop() ends the wait with a QueueStateError', async () => {
    const { lines, logger } = capture();
    const queue = new Queue({ connection: `postgres://postgres@127.0.0.1:${await deadPort()}/none`, logger });
    const starting = queue.start().then(
      () => 'started',
      (error: unknown) => error,
    );
    await waitFor(() => lines.some((l) => /start\(\) cannot reach the database \(ECONNREFUSED\); it keeps trying/.test(l)), 'the first warning');
    await queue.stop();
    const outcome = await starting;
    expect(outcome).toBeInstanceOf(QueueStateError);
    expect(String((outcome as Error).message)).toMatch(/stopped before it could start/);
  });

  it('gives up after waitForDatabase with the driver error, and checks the option', async () => {
    const queue = new Queue({ connection: `postgres://postgres@127.0.0.1:${await deadPort()}/none` });
    await expect(queue.start({ waitForDatabase: 0 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const other = new Queue({ connection: `postgres://postgres@127.0.0.1:${await deadPort()}/none` });
    await expect(other.start({ waitForDatabase: -1 })).rejects.toBeInstanceOf(ConfigError);
    await queue.stop();
    await other.stop();
  });

  it('reports at once what waiting cannot fix: a database that does not exist, an unmigrated schema', async () => {
    const missing = new URL(db.url);
    missing.pathname = '/docket_no_such_database';
    const queue = new Queue({ connection: missing.toString() });
    await expect(queue.start()).rejects.toMatchObject({ code: '3D000' });
    await queue.stop();
    const unmigrated = new Queue({ connection: db.pool, schema: `${db.schema}_never` });
    await expect(unmigrated.start()).rejects.toThrow(/Run queue.migrate\(\) first/);
    await unmigrated.stop();
  });
});
