// Inserts jobs that carry a unique key and/or a partition key. Uniqueness is the database's: the
// insert skips rows whose key is held (ON CONFLICT DO NOTHING on the partial unique index, which
// waits for an uncommitted holder, so nobody is told about a job that never committed); the
// holders are then read. A holder that left its unique states between the two statements frees
// the key, so those rows are simply inserted again.
import type { Engine } from '../engine/engine.js';
import { insertedJob } from '../engine/rows.js';
import type { InsertBatch, KeyedRow, Scope } from '../engine/types.js';
import { ConfigError, UniqueConflictError } from '../definitions/errors.js';
import type { Job, JobState } from '../definitions/job.js';
import { rowToJob } from '../definitions/job.js';
import type { ResolvedUnique } from './unique.js';
import { uniqueKey } from './unique.js';
import type { PartitionOptions } from '../definitions/worker.js';
import { storableText } from '../definitions/storable-text.js';

/** One inserted or found job per input, in input order. */
export interface KeyedOutcome {
  readonly jobs: Job[];
  readonly duplicate: boolean[];
}

const MAX_ROUNDS = 5;

/** Computes each row's keys; throws before anything is written when a partition key is bad. */
export function keyedRows(
  batch: InsertBatch,
  unique: ResolvedUnique | undefined,
  partition: PartitionOptions | undefined,
): KeyedRow[] {
  return batch.args.map((args, i) => ({
    i,
    args,
    ukey: unique === undefined ? null : uniqueKey(unique, batch.worker, batch.queue, args),
    pkey: partition === undefined ? null : partitionKey(partition, args, `a "${batch.worker}" job`),
  }));
}

/**
 * The partition key of a job's (parsed) args; a ConfigError naming `what` when `by` throws or
 * returns anything but a string of 1–255 characters.
 */
export function partitionKey(partition: PartitionOptions, args: unknown, what: string): string {
  let key: unknown;
  try {
    key = partition.by(args);
  } catch (error) {
    throw new ConfigError(`Partition key of ${what} could not be computed: ${(error as Error).message}`);
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > 255 || !storableText(key)) {
    throw new ConfigError(`Partition key of ${what} must be a string of 1–255 characters (no NUL or lone surrogates), got ${JSON.stringify(key)}`);
  }
  return key;
}

/** Inserts keyed rows in `scope` (the host's transaction), or on the pool. */
export async function insertKeyed(
  engine: Engine,
  scope: Scope | undefined,
  batch: InsertBatch,
  rows: readonly KeyedRow[],
  unique: ResolvedUnique | undefined,
  partitionLimit: number | null,
  notify: string | null,
): Promise<KeyedOutcome> {
  const jobs: (Job | undefined)[] = new Array<Job | undefined>(rows.length);
  const duplicate: boolean[] = new Array<boolean>(rows.length).fill(false);
  let pending: KeyedRow[] = [...rows];
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const result = await engine.insertKeyed({
      batch,
      rows: pending,
      unique: unique === undefined ? null : { states: unique.states, period: unique.period },
      partitionLimit,
      notify,
      scope,
    });
    const made = (id: string, args: unknown): Job =>
      insertedJob(batch, id, args, result.state as JobState, result.insertedAt, result.scheduledAt);
    if (unique === undefined) {
      // No keys to conflict on: every row went in, ids in input order.
      pending.forEach((row, k) => (jobs[row.i] = made(result.inserted[k]![0], row.args)));
      break;
    }
    // The first row of each key (lowest position) is the one inserted; later rows of the same
    // key in this call are its duplicates.
    const insertedIds = new Map<string, string>();
    for (const [id, key] of result.inserted) insertedIds.set(key!, id);
    const owners = new Map<string, Job>();
    const conflicted: KeyedRow[] = [];
    for (const row of [...pending].sort((a, b) => a.i - b.i)) {
      const key = row.ukey! + result.suffix;
      const owner = owners.get(key);
      const id = insertedIds.get(key);
      if (owner !== undefined) {
        jobs[row.i] = owner;
        duplicate[row.i] = true;
      } else if (id !== undefined) {
        const job = made(id, row.args);
        owners.set(key, job);
        jobs[row.i] = job;
      } else {
        conflicted.push(row);
      }
    }
    if (conflicted.length === 0) break;
    const keys = [...new Set(conflicted.map((row) => row.ukey! + result.suffix))];
    const holders = new Map((await engine.lookupUnique({ keys, scope })).map((row) => [row.unique_key, rowToJob(row)]));
    pending = [];
    for (const row of conflicted) {
      const holder = holders.get(row.ukey! + result.suffix);
      if (holder === undefined) {
        pending.push(row);
      } else {
        jobs[row.i] = holder;
        duplicate[row.i] = true;
      }
    }
  }
  if (jobs.some((job) => job === undefined)) {
    throw new UniqueConflictError(
      `insert into "${batch.worker}": the unique key kept changing hands (${MAX_ROUNDS} rounds). Retry the call: jobs it already inserted come back as duplicates.`,
    );
  }
  return { jobs: jobs as Job[], duplicate };
}
