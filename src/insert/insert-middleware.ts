// Runs an insert call through the insert middleware (see definitions/middleware.ts): each hook
// may add to the call's meta before the write; the jobs are written with the meta the last one
// left, checked like the insert's own option. Shared by plain inserts and workflow starts.
import { ConfigError } from '../definitions/errors.js';
import type { Job } from '../definitions/job.js';
import type { InsertCall, JobMiddleware } from '../definitions/middleware.js';
import { copyMeta, encodeMeta } from './options.js';

/**
 * Calls `write` inside `chain` and returns what it wrote; `where` names the insert in errors.
 * Without middleware the call's meta is written as given, with `metaJson` (its encoding, checked
 * by the caller); middleware may change the meta, which is then checked and encoded again.
 */
export async function aroundInsert<R extends { readonly jobs: readonly Job[] }>(
  chain: readonly JobMiddleware[],
  call: InsertCall,
  where: string,
  metaJson: string,
  write: (meta: Record<string, unknown>, metaJson: string) => Promise<R>,
): Promise<R> {
  if (chain.length === 0) return write(call.meta, metaJson);
  let result: R | undefined;
  const run = async (i: number): Promise<readonly Job[]> => {
    if (i === chain.length) {
      const meta = copyMeta(call.meta, `${where} (meta after middleware)`);
      result = await write(meta, encodeMeta(meta, `${where} (meta after middleware)`));
      return result.jobs;
    }
    return chain[i]!.insert!(call, () => run(i + 1));
  };
  await run(0);
  if (result === undefined) throw new ConfigError(`${where}: a middleware returned without calling next(), so nothing was written`);
  return result;
}
