// The Queue option `threads`: validated at construction, with every thread worker's module
// checked to exist (a typo would otherwise only show as failed attempts).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../definitions/errors.js';
import type { Worker } from '../definitions/worker.js';
import { checkInt } from '../definitions/worker.js';

/**
 * Options of the thread pool a Queue runs `thread` workers in (the Queue option `threads`).
 *
 * Threads start only when a job needs one and idle ones are reused; `queue.stop()` terminates
 * them. A job waiting for a free thread holds its queue slot, and its `timeout` is running.
 *
 * @example
 * ```ts
 * new Queue({ connection, workers: [thumbnail], queues: { images: 4 }, threads: { size: 4 } });
 * ```
 */
export interface ThreadPoolOptions {
  /** Most threads alive at once (1–1024). Default: `os.availableParallelism()`. */
  readonly size?: number;
}

/** Checked thread pool options. */
export interface ResolvedThreadPoolOptions {
  readonly size: number;
}

/**
 * Validates the Queue option `threads`, and that the module of every thread worker exists (a
 * typo would otherwise only show as failed attempts); throws ConfigError.
 */
export function resolveThreadPoolOptions(options: ThreadPoolOptions | undefined, workers: Iterable<Worker>): ResolvedThreadPoolOptions {
  for (const worker of workers) {
    if (worker.thread !== undefined && !moduleExists(worker.thread.module)) {
      throw new ConfigError(`Worker "${worker.name}": thread.module ${worker.thread.module} does not exist`);
    }
  }
  if (options === undefined) return { size: availableParallelism() };
  if (typeof options !== 'object' || options === null) throw new ConfigError('Queue option "threads" must be an object: { size }');
  return { size: checkInt(options.size ?? availableParallelism(), 1, 1024, 'Queue option "threads.size"') };
}

function moduleExists(module: string): boolean {
  try {
    return existsSync(fileURLToPath(threadModuleUrl(module)));
  } catch {
    return false; // e.g. a file URL with a host, on POSIX
  }
}

/** A worker's `thread.module` (a file URL or an absolute path, checked by Worker) as a URL. */
export function threadModuleUrl(module: string): URL {
  return module.startsWith('file:') ? new URL(module) : pathToFileURL(module);
}
